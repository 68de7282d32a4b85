//! Typed details encoded straight to their canonical bytes.
//!
//! [`AuditEvent::with_typed_detail_unchecked`](crate::AuditEvent::with_typed_detail_unchecked)
//! serializes a value with [`encode`], a `serde` serializer that writes the
//! canonical form of [`canonical`](crate::canonical) directly: keys of
//! every object sorted by their UTF-8 bytes, no whitespace, strings escaped
//! as serde_json escapes them, numbers as serde_json prints them, and the
//! field-name redaction of [`redact`](crate::redact) applied on the way
//! (a value under a sensitive name that is not `null` or a boolean becomes
//! `"[REDACTED]"`). No `serde_json::Value` is built and nothing is walked
//! twice.
//!
//! The bytes are exactly those of the older path (`serde_json::to_value`,
//! names-only redaction, canonical encoding of the value); the tests check
//! it on arbitrary values. Whatever that path would encode in a way this
//! serializer does not reproduce (a map key that is not a string, a
//! duplicate key, a value nested deeper than
//! [`MAX_DETAILS_DEPTH`](crate::MAX_DETAILS_DEPTH), serde_json's private
//! number and raw-value tokens) is refused with [`Unsupported`], and the
//! caller falls back to the older path.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{self, Serialize};

use crate::depth::MAX_DETAILS_DEPTH;
use crate::redact::{REDACTED, is_sensitive_name};

/// The serializer met something it does not encode exactly like the
/// `Value` path; the caller falls back to that path.
#[derive(Debug)]
pub(crate) struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value not supported by the typed encoder")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Unsupported
    }
}

type Result<T> = std::result::Result<T, Unsupported>;

/// The canonical, names-redacted encoding of `value` as the value of a
/// top-level `details` field (depth 2), or [`Unsupported`].
#[cfg(test)]
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut out = String::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// [`encode`] appended to `out`; on an error `out` is as it was.
fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut String) -> Result<()> {
    // The encoder's buffers are kept per thread between values (an order
    // encodes a dozen); a nested call, which no `Serialize` impl makes,
    // would just get fresh ones.
    let mut enc = SCRATCH
        .try_with(|scratch| scratch.try_borrow_mut().ok().and_then(|mut s| s.take()))
        .ok()
        .flatten()
        .unwrap_or_else(Encoder::fresh);
    enc.out.clear();
    enc.entries.clear();
    enc.depth = 1;
    let result = value
        .serialize(&mut enc)
        .and_then(|()| std::str::from_utf8(&enc.out).map_err(|_| Unsupported))
        .map(|text| out.push_str(text));
    if enc.out.capacity() <= MAX_KEPT_BYTES {
        let _ = SCRATCH.try_with(|scratch| {
            if let Ok(mut slot) = scratch.try_borrow_mut() {
                *slot = Some(enc);
            }
        });
    }
    result
}

/// A scratch buffer that grew beyond this is dropped rather than kept.
const MAX_KEPT_BYTES: usize = 64 * 1024;

thread_local! {
    /// The buffers of the last [`encode_into`] on this thread.
    static SCRATCH: std::cell::RefCell<Option<Encoder>> = const { std::cell::RefCell::new(None) };
}

/// [`encode`] for the value of the top-level field `name`, with the
/// field-name redaction of that name applied too, appended to `out`; on an
/// error `out` is as it was.
#[expect(
    clippy::ptr_arg,
    reason = "whether the name is borrowed (a literal) picks its sensitivity cache"
)]
pub(crate) fn encode_field_into<T: Serialize + ?Sized>(
    name: &Cow<'static, str>,
    value: &T,
    out: &mut String,
) -> Result<()> {
    let start = out.len();
    encode_into(value, out)?;
    // A name written in the code is checked by its address, like a
    // struct's field names.
    let sensitive = match name {
        Cow::Borrowed(name) => sensitive_static(name),
        Cow::Owned(name) => sensitive_cached(name),
    };
    let written = out.get(start..).unwrap_or_default();
    if sensitive && !matches!(written, "null" | "true" | "false") {
        out.truncate(start);
        let mut hidden = Vec::with_capacity(REDACTED.len() + 2);
        write_json_str(&mut hidden, REDACTED);
        out.push_str(std::str::from_utf8(&hidden).map_err(|_| Unsupported)?);
    }
    Ok(())
}

/// Slots of the per-thread cache of [`sensitive_cached`].
const NAME_CACHE_SLOTS: usize = 512;

/// Longest name [`sensitive_cached`] keeps (longer names are checked
/// every time).
const NAME_CACHE_LEN: usize = 24;

/// One remembered name: its length, its bytes, whether it is sensitive.
type CachedName = (u8, [u8; NAME_CACHE_LEN], bool);

thread_local! {
    /// Whether a field name is sensitive, by its bytes: the same few
    /// names repeat in every record, and the check is otherwise the
    /// encoder's largest cost. Direct-mapped; a collision only costs a
    /// recomputation, and a hit compares the whole name, so the answer is
    /// always [`is_sensitive_name`]'s.
    static NAME_CACHE: std::cell::RefCell<[CachedName; NAME_CACHE_SLOTS]> =
        const { std::cell::RefCell::new([(0, [0; NAME_CACHE_LEN], false); NAME_CACHE_SLOTS]) };
}

/// Slots of the per-thread cache of [`sensitive_static`].
const STATIC_CACHE_SLOTS: usize = 256;

thread_local! {
    /// Whether a `&'static str` field name is sensitive, by its address
    /// and length: a struct's field names are the same literals at every
    /// call, and the text at a static address never changes, so one
    /// comparison of two words answers. Direct-mapped; a collision only
    /// costs a look-up by bytes.
    static STATIC_CACHE: [std::cell::Cell<(usize, usize, bool)>; STATIC_CACHE_SLOTS] =
        const { [const { std::cell::Cell::new((0, 0, false)) }; STATIC_CACHE_SLOTS] };
}

/// [`is_sensitive_name`] for a field name the program holds as a literal
/// (a struct's or a variant's), remembered per thread by its address.
pub(crate) fn sensitive_static(name: &'static str) -> bool {
    let address = name.as_ptr() as usize;
    let len = name.len();
    let slot = (address >> 3) % STATIC_CACHE_SLOTS;
    let hit = STATIC_CACHE
        .try_with(|cache| match cache.get(slot).map(std::cell::Cell::get) {
            Some((a, l, sensitive)) if a == address && l == len && a != 0 => Some(sensitive),
            _ => None,
        })
        .ok()
        .flatten();
    if let Some(sensitive) = hit {
        return sensitive;
    }
    let sensitive = sensitive_cached(name);
    let _ = STATIC_CACHE.try_with(|cache| {
        if let Some(entry) = cache.get(slot) {
            entry.set((address, len, sensitive));
        }
    });
    sensitive
}

/// [`is_sensitive_name`], remembered per thread for short names.
pub(crate) fn sensitive_cached(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Ok(len) = u8::try_from(bytes.len()) else {
        return is_sensitive_name(name);
    };
    if bytes.len() > NAME_CACHE_LEN {
        return is_sensitive_name(name);
    }
    // FNV-1a over the name picks the slot.
    let hash = bytes.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let slot = (hash as usize) % NAME_CACHE_SLOTS;
    let mut key = [0u8; NAME_CACHE_LEN];
    if let Some(prefix) = key.get_mut(..bytes.len()) {
        prefix.copy_from_slice(bytes);
    }
    let cached = NAME_CACHE
        .try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            match cache.get(slot) {
                Some(&(l, k, sensitive)) if l == len && k == key => Some(sensitive),
                _ => None,
            }
        })
        .ok()
        .flatten();
    if let Some(sensitive) = cached {
        return sensitive;
    }
    let sensitive = is_sensitive_name(name);
    let _ = NAME_CACHE.try_with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut()
            && let Some(entry) = cache.get_mut(slot)
        {
            *entry = (len, key, sensitive);
        }
    });
    sensitive
}

/// Writes `s` as a JSON string exactly as serde_json does.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    if crate::canonical::needs_no_escape(s) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Serializing a &str into a Vec cannot fail; an error would only leave
    // a partial string, which the caller's UTF-8 check or the tests catch.
    let _ = s.serialize(&mut serde_json::Serializer::new(out));
}

struct Encoder {
    out: Vec<u8>,
    /// Containers open around the next value; `details` itself is 1.
    depth: usize,
    /// The entries of every object being written, innermost last (one
    /// allocation for the whole value instead of one per object).
    entries: Vec<Entry>,
    /// Scratch space of `end_object`, reused across objects.
    order: Vec<usize>,
    tail: Vec<u8>,
    /// Scratch space of `collect_str`.
    text: String,
}

impl Encoder {
    fn fresh() -> Self {
        Encoder {
            out: Vec::with_capacity(256),
            depth: 1,
            entries: Vec::new(),
            order: Vec::new(),
            tail: Vec::new(),
            text: String::new(),
        }
    }

    fn open(&mut self, bracket: u8) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DETAILS_DEPTH {
            return Err(Unsupported);
        }
        self.out.push(bracket);
        Ok(())
    }

    fn close(&mut self, bracket: u8) {
        self.depth = self.depth.saturating_sub(1);
        self.out.push(bracket);
    }

    fn decimal(&mut self, n: impl itoa_like::Decimal) {
        n.write(&mut self.out);
    }

    /// A value the `Value` path turns into something this encoder does not
    /// model directly (floats): encode that `Value`.
    fn via_value<T: Serialize>(&mut self, value: T) -> Result<()> {
        let value = serde_json::to_value(value).map_err(|_| Unsupported)?;
        let mut text = String::new();
        crate::canonical::write_value(&mut text, &value);
        self.out.extend_from_slice(text.as_bytes());
        Ok(())
    }

    fn begin_object(&mut self) -> Result<Object> {
        self.open(b'{')?;
        Ok(Object {
            start: self.out.len(),
            first_entry: self.entries.len(),
        })
    }

    /// Writes `"key":value` (comma first unless it is the first entry),
    /// hiding the value under a sensitive name.
    fn entry<T: Serialize + ?Sized>(
        &mut self,
        object: &mut Object,
        key: Cow<'static, str>,
        value: &T,
    ) -> Result<()> {
        if self.entries.len() > object.first_entry {
            self.out.push(b',');
        }
        let begin = self.out.len();
        write_json_str(&mut self.out, &key);
        self.out.push(b':');
        let value_start = self.out.len();
        value.serialize(&mut *self)?;
        // The value's own objects have taken their entries off the stack.
        let sensitive = match &key {
            Cow::Borrowed(name) => sensitive_static(name),
            Cow::Owned(name) => sensitive_cached(name),
        };
        self.hide_if_sensitive(sensitive, value_start);
        self.entries.push(Entry {
            key,
            begin,
            end: self.out.len(),
        });
        Ok(())
    }

    /// Field-name redaction: only `null` and booleans survive under a
    /// sensitive name (as in `redact::redact_entry`).
    fn hide_if_sensitive(&mut self, sensitive: bool, value_start: usize) {
        if !sensitive {
            return;
        }
        let written = self.out.get(value_start..).unwrap_or_default();
        if matches!(written, b"null" | b"true" | b"false") {
            return;
        }
        self.out.truncate(value_start);
        write_json_str(&mut self.out, REDACTED);
    }

    /// Closes an object, putting its entries in key order.
    fn end_object(&mut self, object: Object) -> Result<()> {
        let first = object.first_entry.min(self.entries.len());
        let entries = self.entries.get(first..).unwrap_or_default();
        let sorted = entries
            .windows(2)
            .all(|pair| matches!(pair, [a, b] if a.key.as_bytes() < b.key.as_bytes()));
        if !sorted {
            // Reorder in place: copy the entries' bytes aside (into a
            // buffer reused across objects) and write them back in key
            // order.
            let mut order = std::mem::take(&mut self.order);
            order.clear();
            order.extend(0..entries.len());
            order.sort_unstable_by(|&a, &b| {
                let key = |i: usize| entries.get(i).map_or(&b""[..], |e| e.key.as_bytes());
                key(a).cmp(key(b))
            });
            let duplicate = order.windows(2).any(|pair| match pair {
                [a, b] => entries.get(*a).map(|e| &e.key) == entries.get(*b).map(|e| &e.key),
                _ => false,
            });
            if duplicate {
                // serde_json's map would keep the last value: not modelled.
                return Err(Unsupported);
            }
            let mut tail = std::mem::take(&mut self.tail);
            tail.clear();
            tail.extend_from_slice(self.out.get(object.start..).unwrap_or_default());
            self.out.truncate(object.start);
            for (n, &i) in order.iter().enumerate() {
                if n > 0 {
                    self.out.push(b',');
                }
                let entry = entries.get(i).ok_or(Unsupported)?;
                let range = entry.begin - object.start..entry.end - object.start;
                self.out
                    .extend_from_slice(tail.get(range).ok_or(Unsupported)?);
            }
            self.order = order;
            self.tail = tail;
        }
        self.entries.truncate(first);
        self.close(b'}');
        Ok(())
    }
}

/// Decimal printing of integers without allocating.
mod itoa_like {
    pub(super) trait Decimal {
        fn write(self, out: &mut Vec<u8>);
    }

    fn unsigned(mut n: u64, negative: bool, out: &mut Vec<u8>) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            if let Some(slot) = buf.get_mut(i) {
                *slot = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        if negative {
            out.push(b'-');
        }
        out.extend_from_slice(buf.get(i..).unwrap_or_default());
    }

    impl Decimal for u64 {
        fn write(self, out: &mut Vec<u8>) {
            unsigned(self, false, out);
        }
    }

    impl Decimal for i64 {
        fn write(self, out: &mut Vec<u8>) {
            unsigned(self.unsigned_abs(), self < 0, out);
        }
    }
}

struct Entry {
    key: Cow<'static, str>,
    begin: usize,
    end: usize,
}

/// An object being written.
struct Object {
    /// Position just after its `{`.
    start: usize,
    /// Where its entries start on [`Encoder::entries`].
    first_entry: usize,
}

/// An array being written.
struct Array<'a> {
    enc: &'a mut Encoder,
    first: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        if !self.first {
            self.enc.out.push(b',');
        }
        self.first = false;
        value.serialize(&mut *self.enc)
    }
}

/// A map or struct being written.
struct Map<'a> {
    enc: &'a mut Encoder,
    object: Object,
    /// A map key waiting for its value.
    key: Option<String>,
}

/// A variant's `{"Variant": ...}` wrapper around an inner array or object.
struct Variant<'a> {
    enc: &'a mut Encoder,
    outer: Object,
    name: &'static str,
    /// Where the variant's value starts (for redaction by its name).
    value_start: usize,
    /// The inner object, for struct variants.
    inner: Option<Object>,
    first: bool,
}

impl<'a> Variant<'a> {
    fn begin(enc: &'a mut Encoder, name: &'static str, bracket: u8) -> Result<Self> {
        let outer = enc.begin_object()?;
        write_json_str(&mut enc.out, name);
        enc.out.push(b':');
        let value_start = enc.out.len();
        let inner = if bracket == b'{' {
            Some(enc.begin_object()?)
        } else {
            enc.open(b'[')?;
            None
        };
        Ok(Self {
            enc,
            outer,
            name,
            value_start,
            inner,
            first: true,
        })
    }

    fn finish(self) -> Result<()> {
        let Variant {
            enc,
            outer,
            name,
            value_start,
            inner,
            ..
        } = self;
        match inner {
            Some(object) => enc.end_object(object)?,
            None => enc.close(b']'),
        }
        enc.hide_if_sensitive(sensitive_static(name), value_start);
        // One entry: nothing to sort.
        let _ = outer;
        enc.close(b'}');
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Encoder {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Variant<'a>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Map<'a>;
    type SerializeStructVariant = Variant<'a>;

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<()> {
        self.decimal(i64::from(v));
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> Result<()> {
        self.decimal(i64::from(v));
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Result<()> {
        self.decimal(i64::from(v));
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> Result<()> {
        self.decimal(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<()> {
        // serde_json keeps an i128 that fits u64 or i64, refuses the rest.
        if let Ok(v) = u64::try_from(v) {
            self.decimal(v);
        } else if let Ok(v) = i64::try_from(v) {
            self.decimal(v);
        } else {
            return Err(Unsupported);
        }
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<()> {
        self.decimal(u64::from(v));
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result<()> {
        self.decimal(u64::from(v));
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Result<()> {
        self.decimal(u64::from(v));
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Result<()> {
        self.decimal(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<()> {
        self.decimal(u64::try_from(v).map_err(|_| Unsupported)?);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<()> {
        self.via_value(v)
    }

    fn serialize_f64(self, v: f64) -> Result<()> {
        self.via_value(v)
    }

    fn serialize_char(self, v: char) -> Result<()> {
        write_json_str(&mut self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<()> {
        write_json_str(&mut self.out, v);
        Ok(())
    }

    /// Formats into a buffer reused across values (serde's default
    /// allocates a `String` per value); the text is what serde_json's
    /// `Value` path stores, `value.to_string()`.
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<()> {
        use std::fmt::Write as _;
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        write!(text, "{value}").map_err(|_| Unsupported)?;
        write_json_str(&mut self.out, &text);
        self.text = text;
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        // serde_json makes an array of numbers.
        self.open(b'[')?;
        for (i, b) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.decimal(u64::from(*b));
        }
        self.close(b']');
        Ok(())
    }

    fn serialize_none(self) -> Result<()> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<()> {
        if name.starts_with("$serde_json::private") {
            return Err(Unsupported);
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        let mut object = self.begin_object()?;
        self.entry(&mut object, Cow::Borrowed(variant), value)?;
        self.end_object(object)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>> {
        self.open(b'[')?;
        Ok(Array {
            enc: self,
            first: true,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Variant<'a>> {
        Variant::begin(self, variant, b'[')
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'a>> {
        let object = self.begin_object()?;
        Ok(Map {
            enc: self,
            object,
            key: None,
        })
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Map<'a>> {
        if name.starts_with("$serde_json::private") {
            return Err(Unsupported);
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Variant<'a>> {
        Variant::begin(self, variant, b'{')
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.enc.close(b']');
        Ok(())
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.enc.close(b']');
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.enc.close(b']');
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Variant<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        if !self.first {
            self.enc.out.push(b',');
        }
        self.first = false;
        value.serialize(&mut *self.enc)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Variant<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        let inner = self.inner.as_mut().ok_or(Unsupported)?;
        self.enc.entry(inner, Cow::Borrowed(key), value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key.serialize(KeyOnly)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self.key.take().ok_or(Unsupported)?;
        self.enc.entry(&mut self.object, Cow::Owned(key), value)
    }

    fn end(self) -> Result<()> {
        self.enc.end_object(self.object)
    }
}

impl ser::SerializeStruct for Map<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.enc.entry(&mut self.object, Cow::Borrowed(key), value)
    }

    fn end(self) -> Result<()> {
        self.enc.end_object(self.object)
    }
}

/// Map keys: strings only (serde_json also turns numbers and some enums
/// into keys; those go to the `Value` path).
struct KeyOnly;

impl ser::Serializer for KeyOnly {
    type Ok = String;
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<String, Unsupported>;
    type SerializeTuple = ser::Impossible<String, Unsupported>;
    type SerializeTupleStruct = ser::Impossible<String, Unsupported>;
    type SerializeTupleVariant = ser::Impossible<String, Unsupported>;
    type SerializeMap = ser::Impossible<String, Unsupported>;
    type SerializeStruct = ser::Impossible<String, Unsupported>;
    type SerializeStructVariant = ser::Impossible<String, Unsupported>;

    fn serialize_str(self, v: &str) -> Result<String> {
        Ok(v.to_owned())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String> {
        value.serialize(self)
    }

    fn serialize_bool(self, _v: bool) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_i8(self, _v: i8) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_i16(self, _v: i16) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_i32(self, _v: i32) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_i64(self, _v: i64) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_u8(self, _v: u8) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_u16(self, _v: u16) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_u32(self, _v: u32) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_u64(self, _v: u64) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_f32(self, _v: f32) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_f64(self, _v: f64) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_char(self, _v: char) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_none(self) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_unit(self) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
    ) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(Unsupported)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(Unsupported)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(Unsupported)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(Unsupported)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(Unsupported)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(Unsupported)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(Unsupported)
    }
}

#[cfg(test)]
mod tests;
