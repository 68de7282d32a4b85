"""Drives `asta serve` with the official OpenAlgo Python SDK.

Usage: python openalgo_sdk_check.py HOST TRADE_KEY STRATEGY

Every step prints one line `ok <step>` or `FAIL <step>: <why>`; the exit
code is 0 only when every step passed. The Rust test that runs this script
(asta-cli/tests/python_sdk.rs) starts the server and issues the keys.
"""

import sys

from openalgo import api

HOST, TRADE_KEY, STRATEGY = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(step, condition, detail):
    if condition:
        print(f"ok {step}", flush=True)
    else:
        print(f"FAIL {step}: {detail}", flush=True)
        failures.append(step)


client = api(api_key=TRADE_KEY, host=HOST)

# place (LIMIT, far from the market so it stays open)
placed = client.placeorder(strategy=STRATEGY, symbol="SBIN", action="BUY", exchange="NSE",
                           price_type="LIMIT", product="CNC", quantity=1, price="790")
check("placeorder", placed.get("status") == "success" and placed.get("orderid"), placed)
check("placeorder mode", placed.get("mode") == "analyze", placed)
order_id = placed.get("orderid")

status = client.orderstatus(strategy=STRATEGY, order_id=order_id)
data = status.get("data") or {}
check("orderstatus", status.get("status") == "success" and data.get("orderid") == order_id
      and data.get("order_status") == "open", status)

modified = client.modifyorder(order_id=order_id, strategy=STRATEGY, symbol="SBIN", action="BUY",
                              exchange="NSE", price_type="LIMIT", product="CNC", quantity=1,
                              price="791")
check("modifyorder", modified.get("status") == "success" and modified.get("orderid") == order_id,
      modified)
status = client.orderstatus(strategy=STRATEGY, order_id=order_id)
check("orderstatus after modify", float((status.get("data") or {}).get("price", 0)) == 791.0, status)

book = client.orderbook()
orders = ((book.get("data") or {}).get("orders")) or []
check("orderbook", book.get("status") == "success"
      and any(o.get("orderid") == order_id for o in orders), book)

cancelled = client.cancelorder(order_id=order_id, strategy=STRATEGY)
check("cancelorder", cancelled.get("status") == "success" and cancelled.get("orderid") == order_id,
      cancelled)
status = client.orderstatus(strategy=STRATEGY, order_id=order_id)
check("orderstatus after cancel",
      (status.get("data") or {}).get("order_status") == "cancelled", status)

# a MARKET order fills at the sandbox quote
market = client.placeorder(strategy=STRATEGY, symbol="SBIN", action="BUY", exchange="NSE",
                           price_type="MARKET", product="CNC", quantity=5)
check("placeorder market", market.get("status") == "success" and market.get("orderid"), market)

positions = client.positionbook()
rows = positions.get("data") or []
check("positionbook", positions.get("status") == "success"
      and any(p.get("symbol") == "SBIN" and int(p.get("quantity", 0)) == 5 for p in rows),
      positions)

funds = client.funds()
check("funds", funds.get("status") == "success" and "availablecash" in (funds.get("data") or {}),
      funds)

smart = client.placesmartorder(strategy=STRATEGY, symbol="SBIN", action="BUY", exchange="NSE",
                               price_type="MARKET", product="CNC", quantity=5, position_size=8)
check("placesmartorder", smart.get("status") == "success", smart)
opened = client.openposition(strategy=STRATEGY, symbol="SBIN", exchange="NSE", product="CNC")
check("openposition after smart order", int(opened.get("quantity", -1)) == 8, opened)

# a refused order (over the configured maximum quantity) is an OpenAlgo error
refused = client.placeorder(strategy=STRATEGY, symbol="SBIN", action="BUY", exchange="NSE",
                            price_type="LIMIT", product="CNC", quantity=1000000, price="790")
check("refused order", refused.get("status") == "error" and refused.get("code") == 400
      and "(ref " in str(refused.get("message", "")), refused)

# a wrong key gets OpenAlgo's 403
wrong = api(api_key="asta_ck_" + "a" * 52, host=HOST).funds()
check("wrong key", wrong.get("status") == "error" and wrong.get("code") == 403
      and "Invalid openalgo apikey" in str(wrong.get("message")), wrong)

# the analyzer toggle is refused, the status is served
toggle = client.analyzertoggle(mode=False)
check("analyzer toggle refused", toggle.get("status") == "error" and toggle.get("code") == 403,
      toggle)
analyzer = client.analyzerstatus()
check("analyzer status", analyzer.get("status") == "success"
      and (analyzer.get("data") or {}).get("mode") == "analyze", analyzer)

sys.exit(1 if failures else 0)
