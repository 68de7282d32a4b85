//! OpenAlgo v1 field names, defined once for both directions: the
//! adapter's request encoders and response decoders (`super`), and the
//! gateway's request parser and response encoders (`super::super::api`).

/// `apikey`.
pub(crate) const APIKEY: &str = "apikey";
/// `strategy`.
pub(crate) const STRATEGY: &str = "strategy";
/// `symbol`.
pub(crate) const SYMBOL: &str = "symbol";
/// `action`.
pub(crate) const ACTION: &str = "action";
/// `exchange`.
pub(crate) const EXCHANGE: &str = "exchange";
/// `pricetype`.
pub(crate) const PRICETYPE: &str = "pricetype";
/// `price_type`.
pub(crate) const PRICE_TYPE: &str = "price_type";
/// `product`.
pub(crate) const PRODUCT: &str = "product";
/// `quantity`.
pub(crate) const QUANTITY: &str = "quantity";
/// `price`.
pub(crate) const PRICE: &str = "price";
/// `trigger_price`.
pub(crate) const TRIGGER_PRICE: &str = "trigger_price";
/// `disclosed_quantity`.
pub(crate) const DISCLOSED_QUANTITY: &str = "disclosed_quantity";
/// `orderid`.
pub(crate) const ORDERID: &str = "orderid";
/// `position_size`.
pub(crate) const POSITION_SIZE: &str = "position_size";
/// `orders`.
pub(crate) const ORDERS: &str = "orders";
/// `mode`.
pub(crate) const MODE: &str = "mode";
/// `status`.
pub(crate) const STATUS: &str = "status";
/// `message`.
pub(crate) const MESSAGE: &str = "message";
/// `data`.
pub(crate) const DATA: &str = "data";
/// `average_price`.
pub(crate) const AVERAGE_PRICE: &str = "average_price";
/// `filled_quantity`.
pub(crate) const FILLED_QUANTITY: &str = "filled_quantity";
/// `order_status`.
pub(crate) const ORDER_STATUS: &str = "order_status";
/// `pending_quantity`.
pub(crate) const PENDING_QUANTITY: &str = "pending_quantity";
/// `rejection_reason`.
pub(crate) const REJECTION_REASON: &str = "rejection_reason";
/// `timestamp`.
pub(crate) const TIMESTAMP: &str = "timestamp";
/// `statistics`.
pub(crate) const STATISTICS: &str = "statistics";
/// `ltp`.
pub(crate) const LTP: &str = "ltp";
/// `bid`.
pub(crate) const BID: &str = "bid";
/// `ask`.
pub(crate) const ASK: &str = "ask";
/// `availablecash`.
pub(crate) const AVAILABLECASH: &str = "availablecash";
/// `utiliseddebits`.
pub(crate) const UTILISEDDEBITS: &str = "utiliseddebits";
/// `collateral`.
pub(crate) const COLLATERAL: &str = "collateral";
/// `m2mrealized`.
pub(crate) const M2MREALIZED: &str = "m2mrealized";
/// `m2munrealized`.
pub(crate) const M2MUNREALIZED: &str = "m2munrealized";
/// `canceled_orders`.
pub(crate) const CANCELED_ORDERS: &str = "canceled_orders";
/// `cancelled_orders`.
pub(crate) const CANCELLED_ORDERS: &str = "cancelled_orders";
/// `failed_cancellations`.
pub(crate) const FAILED_CANCELLATIONS: &str = "failed_cancellations";
/// `closed_positions`.
pub(crate) const CLOSED_POSITIONS: &str = "closed_positions";
/// `failed_closures`.
pub(crate) const FAILED_CLOSURES: &str = "failed_closures";
/// `tradeid`.
pub(crate) const TRADEID: &str = "tradeid";
/// `trade_value`.
pub(crate) const TRADE_VALUE: &str = "trade_value";
/// `holdings`.
pub(crate) const HOLDINGS: &str = "holdings";
/// `pnl`.
pub(crate) const PNL: &str = "pnl";
/// `pnlpercent`.
pub(crate) const PNLPERCENT: &str = "pnlpercent";
/// `today_realized_pnl`.
pub(crate) const TODAY_REALIZED_PNL: &str = "today_realized_pnl";
/// `realized_pnl`.
pub(crate) const REALIZED_PNL: &str = "realized_pnl";
/// `unrealized_pnl`.
pub(crate) const UNREALIZED_PNL: &str = "unrealized_pnl";
/// `total_pnl`.
pub(crate) const TOTAL_PNL: &str = "total_pnl";
/// `total_pnl_today`.
pub(crate) const TOTAL_PNL_TODAY: &str = "total_pnl_today";
/// `total_today_realized_pnl`.
pub(crate) const TOTAL_TODAY_REALIZED_PNL: &str = "total_today_realized_pnl";
/// `total_unrealized_pnl`.
pub(crate) const TOTAL_UNREALIZED_PNL: &str = "total_unrealized_pnl";
/// `broker`.
pub(crate) const BROKER: &str = "broker";
/// `analyze_mode`.
pub(crate) const ANALYZE_MODE: &str = "analyze_mode";
/// `total_logs`.
pub(crate) const TOTAL_LOGS: &str = "total_logs";
/// `pending_order_id`.
pub(crate) const PENDING_ORDER_ID: &str = "pending_order_id";
/// `results`.
pub(crate) const RESULTS: &str = "results";
/// `reason`.
pub(crate) const REASON: &str = "reason";
/// `total_buy_orders`.
pub(crate) const TOTAL_BUY_ORDERS: &str = "total_buy_orders";
/// `total_sell_orders`.
pub(crate) const TOTAL_SELL_ORDERS: &str = "total_sell_orders";
/// `total_completed_orders`.
pub(crate) const TOTAL_COMPLETED_ORDERS: &str = "total_completed_orders";
/// `total_open_orders`.
pub(crate) const TOTAL_OPEN_ORDERS: &str = "total_open_orders";
/// `total_rejected_orders`.
pub(crate) const TOTAL_REJECTED_ORDERS: &str = "total_rejected_orders";
/// `total_trigger_pending_orders`.
pub(crate) const TOTAL_TRIGGER_PENDING_ORDERS: &str = "total_trigger_pending_orders";
/// `totalholdingvalue`.
pub(crate) const TOTALHOLDINGVALUE: &str = "totalholdingvalue";
/// `totalinvvalue`.
pub(crate) const TOTALINVVALUE: &str = "totalinvvalue";
/// `totalpnlpercentage`.
pub(crate) const TOTALPNLPERCENTAGE: &str = "totalpnlpercentage";
/// `totalprofitandloss`.
pub(crate) const TOTALPROFITANDLOSS: &str = "totalprofitandloss";
