//! The one nesting limit for a record's `details`, shared by the writer and
//! every reader.
//!
//! The reader parses records with serde_json, which refuses JSON nested
//! deeper than 128 containers. A record whose `details` came close to that
//! would be accepted and synced, and then fail verification and refuse to
//! reopen: anyone who controls a logged payload could stop trading and make
//! it look like tampering. So the writer refuses, at append and with a typed
//! error, any `details` deeper than [`MAX_DETAILS_DEPTH`], a limit well
//! inside what the reader accepts.

use serde_json::{Map, Value};

/// The deepest nesting of a record's `details` that
/// [`AuditLog::append`](crate::AuditLog::append) accepts: the `details`
/// object itself is depth 1, `{"a": {"b": 1}}` is depth 2. Deeper details
/// are refused with [`AuditError::DetailsTooDeep`](crate::AuditError::DetailsTooDeep).
pub const MAX_DETAILS_DEPTH: usize = 64;

/// The nesting serde_json's reader follows (its recursion limit).
const READER_DEPTH_LIMIT: usize = 128;

// A record is one object around `details`, and verification parses whole
// records: every record the writer accepts must stay readable.
const _: () = assert!(MAX_DETAILS_DEPTH + 1 < READER_DEPTH_LIMIT);

/// The nesting depth of `details`, counting it as 1, or `Err` with the first
/// depth found beyond `limit`. Iterative, so a hostile value cannot exhaust the stack.
pub(crate) fn depth_within(details: &Map<String, Value>, limit: usize) -> Result<usize, usize> {
    let mut deepest = 1;
    let mut stack: Vec<(&Value, usize)> = details.values().map(|v| (v, 2)).collect();
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(map) => Box::new(map.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        if depth > limit {
            return Err(depth);
        }
        deepest = deepest.max(depth);
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(deepest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn counts_objects_and_arrays() {
        assert_eq!(depth_within(&map(json!({})), 10), Ok(1));
        assert_eq!(depth_within(&map(json!({"a": 1, "b": "x"})), 10), Ok(1));
        assert_eq!(depth_within(&map(json!({"a": {"b": 1}})), 10), Ok(2));
        assert_eq!(depth_within(&map(json!({"a": [[1], {}]})), 10), Ok(3));
        assert_eq!(depth_within(&map(json!({"a": [[[1]]]})), 3), Err(4));
    }
}
