//! Values that brokers return and the modification request they accept.

mod funds;
mod modify;
mod position;
mod quote;
mod report;
mod status;
mod trade;

pub use funds::Funds;
pub use modify::{ModifyError, ModifyRequest, ModifyRequestBuilder};
pub use position::{Position, PositionKey};
pub use quote::{Quote, QuoteError};
pub use report::{CancelAllReport, CloseAllReport, ClosedPosition, OrderFailure, PositionFailure};
pub use status::{OrderBookEntry, OrderState, OrderStatus};
pub use trade::{Holding, SmartOrderOutcome, Trade};
