//! Configuration of an audit log.

use std::time::Duration;

use crate::error::AuditError;
use crate::record::Category;
use crate::segment::MAX_LINE_BYTES;

/// Default segment size before rotation: 100 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 100 * 1024 * 1024;
/// Default retention: 1825 days (five years, SEBI record keeping).
pub const DEFAULT_RETENTION_DAYS: u32 = 1825;

/// Default longest time a deferred record waits for its fdatasync: 50 ms.
pub const DEFAULT_DEFERRED_FLUSH_DELAY: Duration = Duration::from_millis(50);

/// How durable an append is before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// The default: `append` returns only after the record was written and
    /// `fdatasync`ed. Concurrent appends share one fdatasync (group commit).
    Durable,
    /// `append` returns once the record was written to the operating system
    /// (page cache), before any fdatasync. A crash of the machine (not just
    /// the process) can lose the newest buffered records; the chain stays
    /// intact because only a suffix can be lost. The writer syncs within
    /// [`AuditConfigBuilder::buffered_flush_interval`] and with the next
    /// durable append. Set only through
    /// [`AuditConfigBuilder::dangerous_buffered`].
    Buffered,
}

/// Settings of an [`AuditLog`](crate::AuditLog). Build with
/// [`AuditConfig::builder`]; `AuditConfig::default()` is the safe default
/// (every category durable, 100 MiB segments, 1825 days of retention).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub(crate) max_segment_bytes: u64,
    pub(crate) retention_days: u32,
    pub(crate) queue_capacity: usize,
    pub(crate) max_batch: usize,
    pub(crate) max_record_bytes: usize,
    pub(crate) durability: [Durability; 6],
    pub(crate) buffered_flush_interval: Duration,
    pub(crate) deferred_flush_delay: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            max_segment_bytes: DEFAULT_SEGMENT_BYTES,
            retention_days: DEFAULT_RETENTION_DAYS,
            queue_capacity: 1024,
            max_batch: 1024,
            max_record_bytes: 256 * 1024,
            durability: [Durability::Durable; 6],
            buffered_flush_interval: Duration::from_millis(200),
            deferred_flush_delay: DEFAULT_DEFERRED_FLUSH_DELAY,
        }
    }
}

impl AuditConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> AuditConfigBuilder {
        AuditConfigBuilder {
            config: AuditConfig::default(),
        }
    }

    /// The durability of appends in `category`.
    pub fn durability(&self, category: Category) -> Durability {
        self.durability
            .get(category.index())
            .copied()
            .unwrap_or(Durability::Durable)
    }

    /// Segment size that triggers rotation.
    pub fn max_segment_bytes(&self) -> u64 {
        self.max_segment_bytes
    }

    /// Retention period in days.
    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    /// Longest time a deferred record waits for its fdatasync when nothing
    /// else commits it first.
    pub fn deferred_flush_delay(&self) -> Duration {
        self.deferred_flush_delay
    }

    /// Maximum number of records appended but not yet written (backpressure
    /// beyond).
    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    /// Maximum encoded size of one record.
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    pub(crate) fn validate(&self) -> Result<(), AuditError> {
        let bad = |m: String| Err(AuditError::InvalidConfig(m));
        if self.max_segment_bytes < 4096 {
            return bad(format!(
                "max_segment_bytes {} is below the minimum of 4096",
                self.max_segment_bytes
            ));
        }
        if self.retention_days == 0 {
            return bad("retention_days must be at least 1".to_owned());
        }
        if self.queue_capacity == 0 || self.queue_capacity > 1_000_000 {
            return bad(format!(
                "queue_capacity {} is outside 1..=1000000",
                self.queue_capacity
            ));
        }
        if self.max_batch == 0 || self.max_batch > 65_536 {
            return bad(format!("max_batch {} is outside 1..=65536", self.max_batch));
        }
        if self.max_record_bytes < 1024 || self.max_record_bytes > MAX_LINE_BYTES {
            return bad(format!(
                "max_record_bytes {} is outside 1024..={MAX_LINE_BYTES}",
                self.max_record_bytes
            ));
        }
        if self.buffered_flush_interval.is_zero()
            || self.buffered_flush_interval > Duration::from_secs(60)
        {
            return bad("buffered_flush_interval must be between 1 ns and 60 s".to_owned());
        }
        if self.deferred_flush_delay.is_zero()
            || self.deferred_flush_delay > Duration::from_secs(60)
        {
            return bad("deferred_flush_delay must be between 1 ns and 60 s".to_owned());
        }
        Ok(())
    }
}

/// Builds an [`AuditConfig`]; [`build`](AuditConfigBuilder::build) checks
/// every value.
///
/// ```
/// use asta_audit::{AuditConfig, Category, Durability};
/// let config = AuditConfig::builder()
///     .max_segment_bytes(10 * 1024 * 1024)
///     .dangerous_buffered(Category::System)
///     .build()?;
/// assert_eq!(config.durability(Category::System), Durability::Buffered);
/// assert_eq!(config.durability(Category::Order), Durability::Durable);
/// assert!(AuditConfig::builder().retention_days(0).build().is_err());
/// # Ok::<(), asta_audit::AuditError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AuditConfigBuilder {
    config: AuditConfig,
}

impl AuditConfigBuilder {
    /// Rotate to a new segment when the current one would exceed this size
    /// (at least 4096; default 100 MiB).
    #[must_use]
    pub fn max_segment_bytes(mut self, bytes: u64) -> Self {
        self.config.max_segment_bytes = bytes;
        self
    }

    /// Keep every record for at least this many days (default 1825).
    #[must_use]
    pub fn retention_days(mut self, days: u32) -> Self {
        self.config.retention_days = days;
        self
    }

    /// How many records may be appended but not yet written before
    /// appenders wait (default 1024; a larger batch is admitted alone). The
    /// pending buffer's worst-case memory is about this times
    /// [`max_record_bytes`](AuditConfigBuilder::max_record_bytes).
    #[must_use]
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.config.queue_capacity = capacity;
        self
    }

    /// Kept for compatibility (default 1024, validated): a group commit now
    /// writes everything pending, which
    /// [`queue_capacity`](AuditConfigBuilder::queue_capacity) bounds.
    #[must_use]
    pub fn max_batch(mut self, records: usize) -> Self {
        self.config.max_batch = records;
        self
    }

    /// The largest record accepted, in bytes (default 256 KiB, at most 1 MiB).
    #[must_use]
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.config.max_record_bytes = bytes;
        self
    }

    /// **Weakens durability**: appends in `category` return before their
    /// record is fdatasync'd (see [`Durability::Buffered`]). Never use it
    /// for `ORDER` intents that must be on disk before an order is sent.
    #[must_use]
    pub fn dangerous_buffered(mut self, category: Category) -> Self {
        if let Some(slot) = self.config.durability.get_mut(category.index()) {
            *slot = Durability::Buffered;
        }
        self
    }

    /// How long buffered records may wait for an fdatasync (default 200 ms).
    #[must_use]
    pub fn buffered_flush_interval(mut self, interval: Duration) -> Self {
        self.config.buffered_flush_interval = interval;
        self
    }

    /// Longest time a record appended with
    /// [`AuditLog::append_deferred`](crate::AuditLog::append_deferred) (or
    /// a batch with [`Wait::Deferred`](crate::Wait::Deferred)) waits for
    /// its fdatasync when no durable append or `sync` commits it first
    /// (default 50 ms, at most 60 s). This bounds what a crash can lose.
    #[must_use]
    pub fn deferred_flush_delay(mut self, delay: Duration) -> Self {
        self.config.deferred_flush_delay = delay;
        self
    }

    /// Checks every value.
    pub fn build(self) -> Result<AuditConfig, AuditError> {
        self.config.validate()?;
        Ok(self.config)
    }
}
