//! The day's P&L and orders per second, sampled once a second into a ring
//! that halves its resolution when full, and drawn as SVG with integer
//! arithmetic (money is never a float).

use std::fmt::Write as _;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use asta_broker::Broker;
use asta_core::Money;
use asta_risk::{RateScope, RiskStatus};
use chrono::NaiveDate;

use super::Console;

/// Samples kept: when the ring is full, neighbouring samples are merged and
/// sampling slows by half, so a whole day fits at a bounded size.
pub const SAMPLE_CAPACITY: usize = 720;

const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One point of the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// The day's P&L (realized plus unrealized) at the sample.
    pub(crate) pnl: Money,
    /// The most orders the account sent in one second during the sample.
    pub(crate) peak_per_second: u32,
}

/// The ring of samples of one trading day.
#[derive(Debug, Default)]
pub(crate) struct SampleRing {
    samples: Vec<Sample>,
    stride: u64,
    ticks: u64,
    pending_peak: u32,
    day: Option<NaiveDate>,
    last: Option<Instant>,
}

impl SampleRing {
    /// Takes a sample of `status` if a second has passed since the last.
    pub(crate) fn record(&mut self, status: &RiskStatus) {
        if self
            .last
            .is_some_and(|at| at.elapsed() < SAMPLE_EVERY.saturating_sub(Duration::from_millis(50)))
        {
            return;
        }
        self.last = Some(Instant::now());
        if self.day != Some(status.day) {
            *self = SampleRing {
                day: Some(status.day),
                last: self.last,
                ..SampleRing::default()
            };
        }
        let stride = self.stride.max(1);
        let per_second = account_rate(status).map_or(0, |(used, _)| used);
        self.pending_peak = self.pending_peak.max(per_second);
        self.ticks = self.ticks.saturating_add(1);
        if !self.ticks.is_multiple_of(stride) {
            return;
        }
        let pnl = status
            .realized_pnl
            .checked_add(status.unrealized_pnl)
            .unwrap_or(status.realized_pnl);
        self.samples.push(Sample {
            pnl,
            peak_per_second: self.pending_peak,
        });
        self.pending_peak = 0;
        if self.samples.len() >= SAMPLE_CAPACITY {
            let merged = self
                .samples
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => Sample {
                        pnl: b.pnl,
                        peak_per_second: a.peak_per_second.max(b.peak_per_second),
                    },
                    [a] => *a,
                    _ => Sample {
                        pnl: Money::ZERO,
                        peak_per_second: 0,
                    },
                })
                .collect();
            self.samples = merged;
            self.stride = stride.saturating_mul(2);
        }
    }

    /// The samples, oldest first.
    pub(crate) fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Seconds between samples now.
    pub(crate) fn seconds_per_sample(&self) -> u64 {
        self.stride.max(1)
    }
}

/// The account's orders in the last second and its per-second limit.
pub(crate) fn account_rate(status: &RiskStatus) -> Option<(u32, u32)> {
    status
        .rates
        .iter()
        .find(|rate| rate.scope == RateScope::Account)
        .map(|rate| (rate.usage.last_second, rate.limits.per_second))
}

/// Samples once a second while the console is alive (inside a runtime).
pub(crate) fn spawn_sampler<B: Broker + 'static>(console: &Arc<Console<B>>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(console);
    runtime.spawn(async move {
        let mut interval = tokio::time::interval(SAMPLE_EVERY);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            let Some(console) = weak.upgrade() else {
                return;
            };
            let status = console.guard.risk_status();
            console
                .samples
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(&status);
        }
    });
}

/// Chart size in SVG user units.
const WIDTH: i128 = 560;
const HEIGHT: i128 = 120;

/// A line chart of `values` (oldest first) with an optional dashed
/// reference line (a limit, or zero), drawn into a fixed box. Scaling is
/// integer arithmetic on the exact values.
pub(crate) fn line_svg(title: &str, values: &[i128], reference: Option<(i128, &str)>) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{title}">"#
    );
    let _ = write!(
        svg,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fbfbfb" stroke="#d0d0d0"/>"##
    );
    if values.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="12" y="64" fill="#777" font-size="13">no samples yet</text></svg>"##
        );
        return svg;
    }
    let mut low = values.iter().copied().min().unwrap_or(0);
    let mut high = values.iter().copied().max().unwrap_or(0);
    if let Some((line, _)) = reference {
        low = low.min(line);
        high = high.max(line);
    }
    if high == low {
        high = high.saturating_add(1);
        low = low.saturating_sub(1);
    }
    let span = high.saturating_sub(low).max(1);
    let pad: i128 = 6;
    let inner = HEIGHT - 2 * pad;
    let y = |v: i128| -> i128 { pad + (high.saturating_sub(v)).saturating_mul(inner) / span };
    let last = i128::try_from(values.len().saturating_sub(1))
        .unwrap_or(1)
        .max(1);
    if let Some((line, label)) = reference {
        let ly = y(line);
        let _ = write!(
            svg,
            r##"<line x1="0" y1="{ly}" x2="{WIDTH}" y2="{ly}" stroke="#b33" stroke-dasharray="4 3"/><text x="{}" y="{}" fill="#b33" font-size="11" text-anchor="end">{}</text>"##,
            WIDTH - 4,
            if ly < 18 { ly + 12 } else { ly - 3 },
            super::page::esc(label)
        );
    }
    let mut points = String::new();
    for (i, value) in values.iter().enumerate() {
        let i = i128::try_from(i).unwrap_or(0);
        let x = if values.len() == 1 {
            WIDTH / 2
        } else {
            i.saturating_mul(WIDTH) / last
        };
        let _ = write!(points, "{x},{} ", y(*value));
    }
    let _ = write!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#1f5fbf" stroke-width="2"/></svg>"##,
        points.trim_end()
    );
    svg
}

/// A horizontal bar of `used` against `limit` (both exact), red past 80%.
pub(crate) fn bar_svg(label: &str, used: i128, limit: i128) -> String {
    let width: i128 = 320;
    let filled = if limit <= 0 {
        if used > 0 { width } else { 0 }
    } else {
        used.max(0).saturating_mul(width) / limit
    }
    .clamp(0, width);
    let colour = if limit > 0 && used.saturating_mul(10) >= limit.saturating_mul(8) {
        "#c62828"
    } else if limit > 0 && used.saturating_mul(2) >= limit {
        "#e6a100"
    } else {
        "#2e7d32"
    };
    format!(
        r##"<svg class="bar" viewBox="0 0 {width} 16" width="{width}" height="16" role="img" aria-label="{}"><rect x="0" y="0" width="{width}" height="16" fill="#eee" stroke="#bbb"/><rect x="0" y="0" width="{filled}" height="16" fill="{colour}"/></svg>"##,
        super::page::esc(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_exact_values_into_the_box() {
        let svg = line_svg("p", &[0, 50, 100], None);
        // x from 0 to the width; the highest value at the top padding.
        assert!(svg.contains("0,114 280,60 560,6"), "{svg}");
        assert!(line_svg("p", &[], None).contains("no samples yet"));
        let one = line_svg("p", &[i128::MAX], Some((0, "zero")));
        assert!(one.contains("polyline"));
    }

    #[test]
    fn bars_fill_in_proportion_and_turn_red() {
        assert!(bar_svg("l", 0, 100).contains(r#"width="0""#));
        let half = bar_svg("l", 50, 100);
        assert!(half.contains(r#"width="160""#) && half.contains("#e6a100"));
        let over = bar_svg("l", 500, 100);
        assert!(over.contains(r##"width="320" height="16" fill="#c62828""##));
    }
}
