//! Instrument catalog loading and order checks.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on a bad fixture")]

use asta_core::{
    CatalogError, Exchange, InstrumentCatalog, InstrumentError, OrderRequest, PriceType, Product,
    Quantity, Side, StrategyTag, Symbol,
};

const HEADER: &str = "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n";

fn catalog() -> InstrumentCatalog {
    let csv = format!(
        "{HEADER}NSE,SBIN,0.05,1,,720.1,880.1\n\
         NFO,NIFTY28NOV2424000CE,0.05,65,1800,,\n\
         CDS,USDINR10MAY2482.5CE,0.0025,1,,,\n"
    );
    InstrumentCatalog::from_csv_reader(csv.as_bytes()).unwrap()
}

fn order(
    symbol: &str,
    exchange: Exchange,
    product: Product,
    qty: u64,
    price: &str,
) -> OrderRequest {
    OrderRequest::builder()
        .symbol(Symbol::new(symbol).unwrap())
        .exchange(exchange)
        .side(Side::Buy)
        .price_type(PriceType::Limit)
        .product(product)
        .quantity(Quantity::new(qty).unwrap())
        .price(price.parse().unwrap())
        .strategy(StrategyTag::new("t").unwrap())
        .build()
        .unwrap()
}

#[test]
fn order_checks_name_the_rule_and_the_numbers() {
    let cat = catalog();
    let nifty = |qty, price| {
        order(
            "NIFTY28NOV2424000CE",
            Exchange::Nfo,
            Product::Nrml,
            qty,
            price,
        )
    };
    let cases: Vec<(OrderRequest, Option<&str>)> = vec![
        (nifty(130, "120.05"), None),
        (
            nifty(70, "120.05"),
            Some("quantity 70 is not a multiple of lot size 65 for NIFTY28NOV2424000CE"),
        ),
        (
            nifty(1820, "120.05"),
            Some(
                "quantity 1820 is at or above the freeze quantity 1800 for NIFTY28NOV2424000CE; split the order",
            ),
        ),
        (nifty(1755, "120.05"), None),
        (
            nifty(65, "120.03"),
            Some("price 120.03 is not a multiple of tick size 0.05 for NIFTY28NOV2424000CE"),
        ),
        (order("SBIN", Exchange::Nse, Product::Cnc, 1, "720.1"), None),
        (order("SBIN", Exchange::Nse, Product::Cnc, 1, "880.1"), None),
        (
            order("SBIN", Exchange::Nse, Product::Cnc, 1, "720.05"),
            Some("price 720.05 is outside the price band 720.1..=880.1 for SBIN"),
        ),
        (
            order("SBIN", Exchange::Nse, Product::Cnc, 1, "880.15"),
            Some("price 880.15 is outside the price band 720.1..=880.1 for SBIN"),
        ),
        (
            order(
                "USDINR10MAY2482.5CE",
                Exchange::Cds,
                Product::Mis,
                1,
                "0.0025",
            ),
            None,
        ),
        (
            order(
                "USDINR10MAY2482.5CE",
                Exchange::Cds,
                Product::Mis,
                1,
                "0.0026",
            ),
            Some("price 0.0026 is not a multiple of tick size 0.0025 for USDINR10MAY2482.5CE"),
        ),
        (
            order("INFY", Exchange::Nse, Product::Cnc, 1, "1500"),
            Some("unknown instrument INFY on NSE"),
        ),
        (
            order("SBIN", Exchange::Bse, Product::Cnc, 1, "800"),
            Some("unknown instrument SBIN on BSE"),
        ),
    ];
    for (order, expected) in cases {
        let result = cat
            .check_order(&order)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(result.err().as_deref(), expected, "{order:?}");
    }
}

#[test]
fn trigger_prices_are_checked_too() {
    let cat = catalog();
    let sl = OrderRequest::builder()
        .symbol(Symbol::new("SBIN").unwrap())
        .exchange(Exchange::Nse)
        .side(Side::Sell)
        .price_type(PriceType::StopLossMarket)
        .product(Product::Cnc)
        .quantity(Quantity::new(1).unwrap())
        .trigger_price("790.02".parse().unwrap())
        .strategy(StrategyTag::new("t").unwrap())
        .build()
        .unwrap();
    assert!(matches!(
        cat.check_order(&sl),
        Err(InstrumentError::OffTick {
            field: "trigger price",
            ..
        })
    ));
}

#[test]
fn malformed_rows_name_their_line() {
    let cases = [
        (
            format!("{HEADER}NSE,SBIN,0.05,1,,,\nNSE,sbin,0.05,1,,,\n"),
            3,
            "symbol",
        ),
        (
            format!("{HEADER}NSE,SBIN,0.05,1,,,\nNSE,INFY,0.05,0,,,\n"),
            3,
            "lot_size",
        ),
        (format!("{HEADER}XNSE,SBIN,0.05,1,,,\n"), 2, "exchange"),
        (
            format!("{HEADER}NSE,SBIN,0,1,,,\n"),
            2,
            "tick size must be above zero",
        ),
        (format!("{HEADER}NSE,SBIN,1e-2,1,,,\n"), 2, "tick_size"),
        (format!("{HEADER}NSE,SBIN,0.05,1,,900,800\n"), 2, "band"),
        (
            format!("{HEADER}NSE,SBIN,0.05,1,,900,\n"),
            2,
            "both band_lower and band_upper",
        ),
        (
            format!("{HEADER}NFO,NIFTY,0.05,75,75,,\n"),
            2,
            "freeze quantity",
        ),
        (
            format!("{HEADER}NSE_INDEX,NIFTY,0.05,1,,,\n"),
            2,
            "index segment",
        ),
        (
            format!("{HEADER}NSE,SBIN,0.05,1,,,\nNSE,SBIN,0.05\n"),
            3,
            "columns",
        ),
        (format!("{HEADER}NSE,SBIN, 0.05,1,,,\n"), 2, "whitespace"),
    ];
    for (text, line, needle) in cases {
        let error = InstrumentCatalog::from_csv_reader(text.as_bytes()).unwrap_err();
        let CatalogError::Malformed { line: got, message } = &error else {
            panic!("expected a malformed-row error, got {error}");
        };
        assert_eq!(*got, line, "{error}");
        assert!(message.contains(needle), "{error} should mention {needle}");
    }
    let duplicate = format!("{HEADER}NSE,SBIN,0.05,1,,,\nNSE,SBIN,0.05,1,,,\n");
    assert!(matches!(
        InstrumentCatalog::from_csv_reader(duplicate.as_bytes()),
        Err(CatalogError::Duplicate { line: 3, .. })
    ));
    let bad_header = "symbol,exchange,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n";
    assert!(matches!(
        InstrumentCatalog::from_csv_reader(bad_header.as_bytes()),
        Err(CatalogError::Malformed { line: 1, .. })
    ));
}

#[test]
fn json_catalogs_load_and_validate() {
    let json = r#"{"instruments": [
        {"symbol": "SBIN", "exchange": "NSE", "tick_size": "0.05", "lot_size": 1,
         "band": {"lower": "720.1", "upper": "880.1"}},
        {"symbol": "NIFTY28NOV2424000CE", "exchange": "NFO", "tick_size": "0.05", "lot_size": 65, "freeze_quantity": 1800}
    ]}"#;
    let cat = InstrumentCatalog::from_json_str(json).unwrap();
    assert_eq!(cat.len(), 2);
    let sbin = cat
        .get(Exchange::Nse, &Symbol::new("SBIN").unwrap())
        .unwrap();
    assert_eq!(sbin.band().unwrap().upper().to_string(), "880.1");

    let unknown_field = json.replace("\"lot_size\": 1,", "\"lot_size\": 1, \"lot\": 2,");
    assert!(matches!(
        InstrumentCatalog::from_json_str(&unknown_field),
        Err(CatalogError::Malformed { line: 2, .. })
    ));
    let inverted = json.replace("\"720.1\"", "\"990\"");
    assert!(InstrumentCatalog::from_json_str(&inverted).is_err());
    let float_tick = json.replace("\"0.05\"", "0.05");
    assert!(InstrumentCatalog::from_json_str(&float_tick).is_err());
}

#[test]
fn files_load_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("instruments.csv");
    std::fs::write(&csv, format!("{HEADER}NSE,SBIN,0.05,1,,,\n")).unwrap();
    assert_eq!(InstrumentCatalog::from_path(&csv).unwrap().len(), 1);
    let txt = dir.path().join("instruments.txt");
    std::fs::write(&txt, "").unwrap();
    assert!(matches!(
        InstrumentCatalog::from_path(&txt),
        Err(CatalogError::UnknownFormat { .. })
    ));
    assert!(matches!(
        InstrumentCatalog::from_path(&dir.path().join("missing.csv")),
        Err(CatalogError::Io { .. })
    ));
}

#[test]
fn the_same_symbol_on_two_exchanges_is_two_instruments() {
    let csv = format!("{HEADER}NSE,SBIN,0.05,1,,,\nBSE,SBIN,0.01,1,,,\nNSE,INFY,0.05,1,,,\n");
    let cat = InstrumentCatalog::from_csv_reader(csv.as_bytes()).unwrap();
    assert_eq!(cat.len(), 3);
    assert_eq!(cat.iter().count(), 3);
    let sbin = Symbol::new("SBIN").unwrap();
    assert_eq!(
        cat.get(Exchange::Nse, &sbin)
            .unwrap()
            .tick_size()
            .to_string(),
        "0.05"
    );
    assert_eq!(
        cat.get(Exchange::Bse, &sbin)
            .unwrap()
            .tick_size()
            .to_string(),
        "0.01"
    );
    assert!(cat.get(Exchange::Nfo, &sbin).is_err());
    assert!(InstrumentCatalog::new().is_empty());
}
