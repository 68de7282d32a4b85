//! The closed vocabularies of an order: exchange, side, price type, product.

use crate::text_enum::text_enum;

text_enum! {
    /// An exchange segment as OpenAlgo names it.
    ///
    /// `NSE_INDEX` and `BSE_INDEX` carry index quotes only: they are never
    /// tradable. New segments may be added, so matches need a wildcard arm.
    #[non_exhaustive]
    pub enum Exchange: ParseExchangeError, "exchange" {
        /// NSE cash equities.
        Nse => "NSE",
        /// BSE cash equities.
        Bse => "BSE",
        /// NSE futures and options.
        Nfo => "NFO",
        /// BSE futures and options.
        Bfo => "BFO",
        /// NSE currency derivatives.
        Cds => "CDS",
        /// BSE currency derivatives.
        Bcd => "BCD",
        /// MCX commodity derivatives.
        Mcx => "MCX",
        /// NSE indices (quotes only).
        NseIndex => "NSE_INDEX",
        /// BSE indices (quotes only).
        BseIndex => "BSE_INDEX",
    }
}

impl Exchange {
    /// Whether orders can be placed on this segment (index segments are quote-only).
    pub const fn is_tradable(self) -> bool {
        !matches!(self, Exchange::NseIndex | Exchange::BseIndex)
    }

    /// Whether this is a cash (equity delivery) segment.
    pub const fn is_cash(self) -> bool {
        matches!(self, Exchange::Nse | Exchange::Bse)
    }

    /// Whether this is a derivatives segment (futures, options, currency, commodity).
    pub const fn is_derivative(self) -> bool {
        matches!(
            self,
            Exchange::Nfo | Exchange::Bfo | Exchange::Cds | Exchange::Bcd | Exchange::Mcx
        )
    }
}

text_enum! {
    /// Buy or sell.
    pub enum Side: ParseSideError, "side" {
        /// Buy.
        Buy => "BUY",
        /// Sell.
        Sell => "SELL",
    }
}

impl Side {
    /// The other side.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

text_enum! {
    /// How an order is priced.
    pub enum PriceType: ParsePriceTypeError, "price type" {
        /// At the market: no price, no trigger.
        Market => "MARKET",
        /// At a limit price.
        Limit => "LIMIT",
        /// Stop-loss limit: a limit price that becomes active at a trigger price.
        StopLoss => "SL",
        /// Stop-loss market: a market order that becomes active at a trigger price.
        StopLossMarket => "SL-M",
    }
}

impl PriceType {
    /// Whether orders of this type carry a limit price.
    pub const fn needs_price(self) -> bool {
        matches!(self, PriceType::Limit | PriceType::StopLoss)
    }

    /// Whether orders of this type carry a trigger price.
    pub const fn needs_trigger(self) -> bool {
        matches!(self, PriceType::StopLoss | PriceType::StopLossMarket)
    }
}

text_enum! {
    /// The product (margin and holding treatment) of an order.
    pub enum Product: ParseProductError, "product" {
        /// Cash and carry: equity delivery, cash segments only.
        Cnc => "CNC",
        /// Margin intraday square-off: closed by the broker near the end of the day.
        Mis => "MIS",
        /// Normal: carry-forward derivatives, derivative segments only.
        Nrml => "NRML",
    }
}

impl Product {
    /// Whether this product may be used on `exchange`.
    pub const fn allowed_on(self, exchange: Exchange) -> bool {
        match self {
            Product::Cnc => exchange.is_cash(),
            Product::Nrml => exchange.is_derivative(),
            Product::Mis => exchange.is_tradable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_through_text_and_serde() {
        fn check<T>(all: &[T])
        where
            T: Copy + std::fmt::Display + std::str::FromStr + PartialEq + std::fmt::Debug,
            T: serde::Serialize + serde::de::DeserializeOwned,
            T::Err: std::fmt::Debug,
        {
            for &value in all {
                let text = value.to_string();
                assert_eq!(text.parse::<T>().unwrap(), value);
                let json = serde_json::to_string(&value).unwrap();
                assert_eq!(json, format!("\"{text}\""));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value);
            }
        }
        check(Exchange::ALL);
        check(Side::ALL);
        check(PriceType::ALL);
        check(Product::ALL);
    }

    #[test]
    fn names_are_exact_and_case_sensitive() {
        for bad in ["nse", "Nse", " NSE", "NSE ", "", "NSEX", "NSE_index"] {
            let error = bad.parse::<Exchange>().unwrap_err();
            assert!(error.to_string().contains("expected one of"), "{error}");
        }
        assert!("buy".parse::<Side>().is_err());
        assert!("SLM".parse::<PriceType>().is_err());
        assert!("SL_M".parse::<PriceType>().is_err());
        assert_eq!(
            "SL-M".parse::<PriceType>().unwrap(),
            PriceType::StopLossMarket
        );
        assert!(serde_json::from_str::<Product>("\"cnc\"").is_err());
        assert!(serde_json::from_str::<Product>("3").is_err());
    }

    #[test]
    fn products_fit_their_segments() {
        assert!(Product::Cnc.allowed_on(Exchange::Nse));
        assert!(!Product::Cnc.allowed_on(Exchange::Nfo));
        assert!(Product::Nrml.allowed_on(Exchange::Mcx));
        assert!(!Product::Nrml.allowed_on(Exchange::Bse));
        assert!(Product::Mis.allowed_on(Exchange::Nfo));
        assert!(!Product::Mis.allowed_on(Exchange::NseIndex));
    }

    #[test]
    fn long_bad_input_is_truncated_in_the_error() {
        let long = "X".repeat(10_000);
        let error = long.parse::<Side>().unwrap_err();
        assert_eq!(error.input().len(), 32);
    }
}
