//! The console's HTML, rendered by the server. Every text that comes from
//! the session (trail, broker, risk engine) goes through [`esc`].

use std::fmt::Write as _;

use asta_broker::{OrderBookEntry, SessionStatus, UnresolvedOutcome};
use asta_core::Money;
use asta_risk::TradingState;

use super::MOUNT;
use super::chart::{self, Sample};
use super::tail::Row;

/// HTML-escapes `text` for element content and quoted attributes.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn head(title: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{}</title>
<link rel="stylesheet" href="{MOUNT}/assets/console.css">
<script src="{MOUNT}/assets/console.js" defer></script>
</head>"#,
        esc(title)
    )
}

/// The sign-in page, with a message after a refusal.
pub(crate) fn login(message: Option<&str>) -> String {
    let mut html = head("ASTA console: sign in");
    html.push_str(r#"<body class="login"><main><h1>ASTA console</h1>"#);
    if let Some(message) = message {
        let _ = write!(
            html,
            r#"<p class="flash error" id="message">{}</p>"#,
            esc(message)
        );
    }
    let _ = write!(
        html,
        r#"<form method="post" action="{MOUNT}/login" id="login">
<label>Admin client key <input type="password" name="key" id="key" autocomplete="off" required></label>
<label>TOTP code <input type="text" name="totp" id="totp" inputmode="numeric" autocomplete="one-time-code" maxlength="10" required></label>
<button type="submit" id="sign-in">Sign in</button>
</form><p class="hint">An admin-scoped client key (<code>asta keys issue NAME --scope admin</code>) and the operator's current TOTP code.</p></main></body></html>"#
    );
    html
}

/// A refusal page (403 and friends).
pub(crate) fn refused(message: &str) -> String {
    let mut html = head("ASTA console: refused");
    let _ = write!(
        html,
        r#"<body class="login"><main><h1>Refused</h1><p class="flash error" id="message">{}</p><p><a href="{MOUNT}/">Back to the console</a></p></main></body></html>"#,
        esc(message)
    );
    html
}

/// Everything the main page shows.
pub(crate) struct View<'a> {
    pub(crate) operator: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) flash: Option<&'a str>,
    pub(crate) status: &'a SessionStatus,
    pub(crate) orders: Result<Vec<OrderBookEntry>, String>,
    pub(crate) unresolved: &'a [UnresolvedOutcome],
    /// Newest first.
    pub(crate) rows: &'a [Row],
    pub(crate) tail_error: Option<&'a str>,
    pub(crate) samples: &'a [Sample],
    pub(crate) seconds_per_sample: u64,
}

fn state_class(state: TradingState) -> &'static str {
    match state {
        TradingState::Active => "active",
        TradingState::Reducing => "reducing",
        TradingState::Halted => "halted",
        _ => "halted",
    }
}

fn money(m: Money) -> String {
    format!("INR {m}")
}

/// `used` as a percentage of `limit` with two decimals, in integer
/// arithmetic (basis points).
fn share(used: i128, limit: i128) -> String {
    if limit <= 0 {
        return "no limit".to_owned();
    }
    let bps = used.max(0).saturating_mul(10_000) / limit;
    format!("{}.{:02}%", bps / 100, bps % 100)
}

fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(csrf))
}

/// The main page.
pub(crate) fn main_page(view: &View<'_>) -> String {
    let status = view.status;
    let risk = &status.risk;
    let mut h = head("ASTA console");
    let last_seq = view.rows.first().map_or(0, |row| row.seq);
    let _ = write!(
        h,
        r#"<body data-last-seq="{last_seq}"><header><h1>ASTA console</h1><span class="meta">mode <b>{}</b> · venue <b>{}</b> · day {} · at {}</span>
<form method="post" action="{MOUNT}/logout" class="signout">operator <b id="operator">{}</b> {}<button type="submit">Sign out</button></form></header>"#,
        esc(&status.mode.to_string()),
        esc(&status.venue.to_string()),
        risk.day,
        risk.at.format("%H:%M:%S UTC"),
        esc(view.operator),
        csrf_field(view.csrf),
    );
    if let Some(flash) = view.flash {
        let _ = write!(h, r#"<p class="flash" id="flash">{}</p>"#, esc(flash));
    }
    h.push_str(r#"<main class="grid">"#);

    // State, strategies, breakers.
    let state = status.trading_state;
    let _ = write!(
        h,
        r#"<section class="card" id="state-card"><h2>Trading state</h2><div id="state" class="badge {}">{}</div><p id="state-reason" class="reason">{}</p>"#,
        state_class(state),
        state,
        esc(&risk.account.reason)
    );
    if let Some(problem) = &status.audit_unavailable {
        let _ = write!(
            h,
            r#"<p class="flash error">Audit trail unavailable: {}</p>"#,
            esc(problem)
        );
    }
    if let Some(marker) = status.halt_marker.as_ref().filter(|m| m.present) {
        let _ = write!(
            h,
            r#"<p class="flash error">Halt marker present: {}</p>"#,
            esc(&marker.path)
        );
    }
    if !risk.strategies.is_empty() {
        h.push_str(
            "<h3>Strategies</h3><table><tr><th>Strategy</th><th>State</th><th>Why</th></tr>",
        );
        for s in &risk.strategies {
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td><span class="pill {}">{}</span></td><td>{}</td></tr>"#,
                esc(&s.scope.to_string()),
                state_class(s.state),
                s.state,
                esc(&s.reason)
            );
        }
        h.push_str("</table>");
    }
    h.push_str(r#"<h3>Latched breakers</h3>"#);
    if risk.breakers.is_empty() {
        h.push_str(r#"<p class="none" id="breakers">none</p>"#);
    } else {
        h.push_str(r#"<table id="breakers"><tr><th>Breaker</th><th>Scope</th><th>Tripped</th><th>Why</th></tr>"#);
        for b in &risk.breakers {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&b.kind.to_string()),
                esc(&b.scope.to_string()),
                b.at.format("%Y-%m-%d %H:%M:%S UTC"),
                esc(&b.detail)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");

    // Actions.
    let csrf = csrf_field(view.csrf);
    let _ = write!(
        h,
        r#"<section class="card actions"><h2>Actions</h2>
<form method="post" action="{MOUNT}/halt" id="halt-form">{csrf}<input type="text" name="reason" placeholder="reason (optional)" maxlength="200"><button type="submit" id="halt" class="danger">Halt and cancel all</button></form>
<p class="hint">Halts the account (latched) and cancels every open order. No TOTP needed.</p>
<form method="post" action="{MOUNT}/flatten" id="flatten-form">{csrf}<input type="text" name="totp" placeholder="TOTP code" inputmode="numeric" autocomplete="one-time-code" maxlength="10" required><input type="text" name="reason" placeholder="reason (optional)" maxlength="200"><button type="submit" id="flatten">Flatten</button></form>
<p class="hint">Closes every open position at market.</p>
<form method="post" action="{MOUNT}/reset" id="reset-form">{csrf}<input type="text" name="totp" placeholder="TOTP code" inputmode="numeric" autocomplete="one-time-code" maxlength="10" required><button type="submit" id="reset">Reset to ACTIVE</button></form>
<p class="hint">Leaves HALTED once the breaker's condition has cleared.</p></section>"#
    );

    // Loss and exposure.
    let loss = risk.daily_loss.units();
    let limit = risk.daily_loss_limit.units();
    let pnl = risk
        .realized_pnl
        .checked_add(risk.unrealized_pnl)
        .unwrap_or(risk.realized_pnl);
    let _ = write!(
        h,
        r#"<section class="card" id="loss-card"><h2>Day's loss</h2><p><span id="loss">{}</span> of limit <span id="loss-limit">{}</span> (<b id="loss-share">{}</b>)</p>{}
<p>P&amp;L today <b id="pnl">{}</b> (realized {}, unrealized {})</p>
<h3>Gross exposure</h3><p>{} of limit {}</p>{}"#,
        money(risk.daily_loss),
        money(risk.daily_loss_limit),
        share(loss, limit),
        chart::bar_svg("day's loss against its limit", loss, limit),
        money(pnl),
        money(risk.realized_pnl),
        money(risk.unrealized_pnl),
        money(risk.gross_exposure),
        money(risk.gross_exposure_limit),
        chart::bar_svg(
            "gross exposure against its limit",
            risk.gross_exposure.units(),
            risk.gross_exposure_limit.units()
        ),
    );
    h.push_str("<h3>Rate usage</h3>");
    if risk.rates.is_empty() {
        h.push_str(r#"<p class="none">no orders yet</p>"#);
    } else {
        h.push_str(
            "<table><tr><th>Scope</th><th>Last second</th><th>Last minute</th><th>Today</th></tr>",
        );
        for r in &risk.rates {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{} / {}</td><td>{} / {}</td><td>{} / {}</td></tr>",
                esc(&r.scope.to_string()),
                r.usage.last_second,
                r.limits.per_second,
                r.usage.last_minute,
                r.limits.per_minute,
                r.usage.today,
                r.limits.per_day
            );
        }
        h.push_str("</table>");
    }
    let _ = write!(
        h,
        "<p>Open orders {} of {} · pending approvals {} · unknown outcomes {} · in flight {}</p></section>",
        risk.open_orders,
        risk.max_open_orders,
        risk.pending_approvals,
        status.unknown_outcomes,
        status.in_flight
    );

    // Charts.
    let pnl_values: Vec<i128> = view.samples.iter().map(|s| s.pnl.units()).collect();
    let rate_values: Vec<i128> = view
        .samples
        .iter()
        .map(|s| i128::from(s.peak_per_second))
        .collect();
    let rate_limit = chart::account_rate(risk).map(|(_, limit)| i128::from(limit));
    let limit_label = rate_limit
        .map(|l| format!("limit {l}/s"))
        .unwrap_or_default();
    let _ = write!(
        h,
        r#"<section class="card" id="charts-card"><h2>Charts</h2><h3>P&amp;L today</h3>{}<h3>Orders per second (peak)</h3>{}<p class="hint">One point every {} s; last P&amp;L {}.</p></section>"#,
        chart::line_svg("P&L today", &pnl_values, Some((0, "0"))),
        chart::line_svg(
            "orders per second",
            &rate_values,
            rate_limit.map(|l| (l, limit_label.as_str()))
        ),
        view.seconds_per_sample,
        view.samples
            .last()
            .map_or_else(|| "none".to_owned(), |s| money(s.pnl)),
    );

    // Orders, positions, unknown outcomes.
    h.push_str(r#"<section class="card wide" id="book-card"><h2>Open orders</h2>"#);
    match &view.orders {
        Err(problem) => {
            let _ = write!(
                h,
                r#"<p class="flash error">The order book could not be read: {}</p>"#,
                esc(problem)
            );
        }
        Ok(orders) => {
            let open: Vec<&OrderBookEntry> = orders
                .iter()
                .filter(|o| o.state().may_be_working())
                .collect();
            if open.is_empty() {
                h.push_str(r#"<p class="none" id="orders">none</p>"#);
            } else {
                h.push_str(r#"<table id="orders"><tr><th>Order</th><th>Strategy</th><th>Instrument</th><th>Side</th><th>Qty</th><th>Filled</th><th>Price</th><th>State</th></tr>"#);
                for o in open {
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(o.order_id().as_str()),
                        esc(&o.strategy().map(ToString::to_string).unwrap_or_default()),
                        esc(&o.exchange().to_string()),
                        esc(o.symbol().as_ref()),
                        esc(&o.side().to_string()),
                        o.quantity(),
                        o.filled_quantity(),
                        o.price()
                            .map(|p| p.to_string())
                            .unwrap_or_else(|| "market".to_owned()),
                        esc(o.state().as_str())
                    );
                }
                h.push_str("</table>");
            }
        }
    }
    h.push_str("<h2>Positions</h2>");
    let open_positions: Vec<_> = risk
        .positions
        .iter()
        .filter(|p| p.net != 0 || !p.realized_today.is_zero_units())
        .collect();
    if open_positions.is_empty() {
        h.push_str(r#"<p class="none" id="positions">none</p>"#);
    } else {
        h.push_str(r#"<table id="positions"><tr><th>Instrument</th><th>Product</th><th>Net</th><th>Mark</th><th>Realized today</th></tr>"#);
        for p in open_positions {
            let _ = write!(
                h,
                "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.exchange.to_string()),
                esc(p.symbol.as_ref()),
                esc(&p.product.to_string()),
                p.net,
                p.mark
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "-".to_owned()),
                money(p.realized_today)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Unknown outcomes</h2>");
    if view.unresolved.is_empty() {
        h.push_str(r#"<p class="none" id="unknown">none</p>"#);
    } else {
        h.push_str(r#"<table id="unknown"><tr><th>Ticket</th><th>Order</th><th>Sent</th><th>Pending approval</th></tr>"#);
        for u in view.unresolved {
            let o = &u.order;
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{} {} {} {} ({})</td><td>{}</td><td>{}</td></tr>",
                u.ticket,
                esc(&o.side().to_string()),
                o.quantity(),
                esc(&o.exchange().to_string()),
                esc(o.symbol().as_ref()),
                esc(o.strategy().as_ref()),
                u.attempted_at.format("%H:%M:%S UTC"),
                esc(u.pending_approval.as_deref().unwrap_or("-"))
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");

    // Alerts and the audit tail.
    h.push_str(r#"<section class="card wide"><h2>Alerts</h2><table id="alerts"><thead><tr><th>Seq</th><th>Time (UTC)</th><th>Category</th><th>Action</th><th>Actor</th><th>Details</th></tr></thead><tbody id="alert-rows">"#);
    for row in view.rows.iter().filter(|r| r.alert).take(10) {
        row_html(&mut h, row);
    }
    h.push_str("</tbody></table>");
    h.push_str(r#"<h2>Audit trail <span class="live" id="live">(live)</span></h2>"#);
    if let Some(problem) = view.tail_error {
        let _ = write!(
            h,
            r#"<p class="flash error">The trail could not be read: {}</p>"#,
            esc(problem)
        );
    }
    h.push_str(r#"<table id="audit"><thead><tr><th>Seq</th><th>Time (UTC)</th><th>Category</th><th>Action</th><th>Actor</th><th>Details</th></tr></thead><tbody id="audit-rows">"#);
    for row in view.rows.iter().take(20) {
        row_html(&mut h, row);
    }
    h.push_str("</tbody></table></section></main></body></html>");
    h
}

fn row_html(h: &mut String, row: &Row) {
    let _ = write!(
        h,
        r#"<tr class="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="details">{}</td></tr>"#,
        if row.alert { "alert" } else { "" },
        row.seq,
        esc(&row.ts),
        esc(&row.category),
        esc(&row.action),
        esc(&row.actor),
        esc(&row.summary)
    );
}

trait ZeroUnits {
    fn is_zero_units(&self) -> bool;
}

impl ZeroUnits for Money {
    fn is_zero_units(&self) -> bool {
        self.units() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_exact_percentages() {
        assert_eq!(share(159_500, 300_000_000), "0.05%");
        assert_eq!(share(150, 100), "150.00%");
        assert_eq!(share(-5, 100), "0.00%");
        assert_eq!(share(1, 0), "no limit");
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_sign_in_page_echoes_nothing_but_the_message() {
        let html = login(Some("<b>no</b>"));
        assert!(html.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains(r#"type="password" name="key""#));
    }
}
