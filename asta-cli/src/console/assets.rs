//! The console's one stylesheet and one script, served from the console
//! itself (the Content-Security-Policy allows nothing else).

/// The stylesheet.
pub(crate) const CSS: &str = r#"
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d1d1d; background: #f1f3f5; }
header { display: flex; align-items: center; gap: 18px; padding: 10px 18px; background: #20262e; color: #f4f4f4; }
header h1 { font-size: 18px; margin: 0; }
header .meta { color: #c9d1d9; }
header .signout { margin-left: auto; }
header button { margin-left: 8px; }
main.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 14px; padding: 14px 18px; }
.card { background: #fff; border: 1px solid #d8dde3; border-radius: 6px; padding: 10px 14px; }
.card.wide { grid-column: 1 / -1; }
h2 { font-size: 15px; margin: 6px 0 8px; }
h3 { font-size: 13px; margin: 12px 0 4px; color: #444; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.details { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
tr.alert td { background: #fff4e5; }
.badge { display: inline-block; font-size: 28px; font-weight: 700; padding: 4px 18px; border-radius: 6px; letter-spacing: 1px; }
.badge.active { background: #e3f4e4; color: #1b5e20; border: 2px solid #2e7d32; }
.badge.reducing { background: #fff4d6; color: #7a5200; border: 2px solid #e6a100; }
.badge.halted { background: #fde2e1; color: #8e1111; border: 2px solid #c62828; }
.pill { padding: 1px 8px; border-radius: 10px; font-weight: 600; }
.pill.active { background: #e3f4e4; } .pill.reducing { background: #fff4d6; } .pill.halted { background: #fde2e1; }
.reason { color: #444; }
.none { color: #777; }
.flash { margin: 10px 18px; padding: 8px 12px; background: #e8f0fe; border: 1px solid #aac4f2; border-radius: 4px; }
.flash.error { background: #fde2e1; border-color: #e8a3a0; }
.actions form { display: flex; gap: 8px; margin: 8px 0 2px; }
.actions input[type=text] { flex: 1; min-width: 0; padding: 5px; }
button { padding: 6px 12px; border: 1px solid #8a949e; border-radius: 4px; background: #f6f8fa; cursor: pointer; font-weight: 600; }
button.danger { background: #c62828; border-color: #8e1111; color: #fff; }
.hint { color: #666; font-size: 12px; margin: 0 0 6px; }
.live { font-weight: normal; color: #999; font-size: 12px; }
.live.on { color: #2e7d32; }
svg.chart, svg.bar { display: block; max-width: 100%; height: auto; }
body.login main { max-width: 420px; margin: 60px auto; background: #fff; padding: 20px 24px; border: 1px solid #d8dde3; border-radius: 6px; }
body.login label { display: block; margin: 10px 0; }
body.login input { display: block; width: 100%; padding: 6px; margin-top: 4px; }
body.login .flash { margin: 10px 0; }
"#;

/// The script: the live audit tail and state badge (server-sent events).
/// Everything else on the page works without it. Text goes in through
/// `textContent`, never as markup.
pub(crate) const JS: &str = r#"'use strict';
(function () {
  var rows = document.getElementById('audit-rows');
  var alerts = document.getElementById('alert-rows');
  var badge = document.getElementById('state');
  if (!rows || !badge || !window.EventSource) { return; }
  var live = document.getElementById('live');
  var reason = document.getElementById('state-reason');
  var last = parseInt(document.body.getAttribute('data-last-seq') || '0', 10);
  var source = new EventSource('/console/events?after=' + last);
  function row(r) {
    var tr = document.createElement('tr');
    if (r.alert) { tr.className = 'alert'; }
    [String(r.seq), r.ts, r.category, r.action, r.actor, r.summary].forEach(function (text, i) {
      var td = document.createElement('td');
      if (i === 5) { td.className = 'details'; }
      td.textContent = text;
      tr.appendChild(td);
    });
    return tr;
  }
  function trim(body, max) { while (body.rows.length > max) { body.deleteRow(body.rows.length - 1); } }
  source.addEventListener('open', function () { if (live) { live.className = 'live on'; } });
  source.addEventListener('error', function () { if (live) { live.className = 'live'; } });
  // The other panels (state, loss, charts, orders and positions) are
  // fetched again when something happened, at most every two seconds,
  // without touching the forms the operator may be typing in.
  var pending = false;
  var lastRefresh = 0;
  function refreshPanels() {
    if (pending) { return; }
    pending = true;
    setTimeout(function () {
      lastRefresh = Date.now();
      fetch('/console/panels', { credentials: 'same-origin', cache: 'no-store' })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text) { return; }
          var doc = new DOMParser().parseFromString(text, 'text/html');
          ['state-card', 'loss-card', 'charts-card', 'book-card'].forEach(function (id) {
            var fresh = doc.getElementById(id);
            var old = document.getElementById(id);
            if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
          });
          badge = document.getElementById('state') || badge;
          reason = document.getElementById('state-reason') || reason;
        })
        .catch(function () {})
        .then(function () { pending = false; });
    }, Math.max(0, 2000 - (Date.now() - lastRefresh)));
  }
  source.addEventListener('update', function (e) {
    var u = JSON.parse(e.data);
    if (u.rows.length > 0 || u.state !== badge.textContent) { refreshPanels(); }
    badge.textContent = u.state;
    badge.className = 'badge ' + u.state.toLowerCase();
    if (reason) { reason.textContent = u.reason; }
    u.rows.forEach(function (r) {
      if (r.seq <= last) { return; }
      last = r.seq;
      rows.insertBefore(row(r), rows.firstChild);
      if (r.alert && alerts) { alerts.insertBefore(row(r), alerts.firstChild); }
    });
    trim(rows, 20);
    if (alerts) { trim(alerts, 10); }
  });
  source.addEventListener('signed-out', function () { source.close(); window.location.assign('/console/login'); });
})();
"#;
