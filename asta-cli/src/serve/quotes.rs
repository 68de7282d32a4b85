//! Simulated quotes for a sandbox session (`[sandbox.quotes]`).
//!
//! Every tick sets each configured instrument's price as the simulator's
//! quote (so MARKET orders fill and resting orders match) and feeds it to
//! the guard's risk engine (so the reference price is fresh). With
//! `random_walk_bps` the price moves by a random step of at most that many
//! basis points a tick, on the instrument's tick grid; without it, the
//! price stays where it started and only its time moves on.

use std::time::Duration;

use asta_broker::Quote;
use asta_core::{Exchange, InstrumentCatalog, Price, Symbol};
use ring::rand::{SecureRandom, SystemRandom};

use super::Session;

/// One instrument's simulated price.
#[derive(Debug, Clone)]
pub struct SimulatedQuote {
    exchange: Exchange,
    symbol: Symbol,
    /// The price in 1/10,000 rupee.
    units: i64,
    /// The tick size in the same units (the catalog's, or ₹0.05).
    tick: i64,
}

/// The sandbox's quote feed.
#[derive(Debug)]
pub struct QuoteFeed {
    quotes: Vec<SimulatedQuote>,
    walk_bps: u32,
    interval: Duration,
    random: SystemRandom,
}

impl QuoteFeed {
    /// The feed for `prices`, stepping by at most `walk_bps` every
    /// `interval`; tick sizes come from `catalog`.
    pub fn new(
        prices: Vec<(Exchange, Symbol, Price)>,
        catalog: &InstrumentCatalog,
        walk_bps: u32,
        interval: Duration,
    ) -> Self {
        let quotes = prices
            .into_iter()
            .map(|(exchange, symbol, price)| {
                let tick = catalog
                    .get(exchange, &symbol)
                    .map_or(500, |i| i.tick_size().units().max(1));
                SimulatedQuote {
                    exchange,
                    symbol,
                    units: price.units(),
                    tick,
                }
            })
            .collect();
        Self {
            quotes,
            walk_bps,
            interval,
            random: SystemRandom::new(),
        }
    }

    /// How many instruments it prices.
    pub fn len(&self) -> usize {
        self.quotes.len()
    }

    /// Whether it prices nothing.
    pub fn is_empty(&self) -> bool {
        self.quotes.is_empty()
    }

    /// Sets every quote now, then keeps ticking until the task is aborted.
    pub async fn run(mut self, session: std::sync::Arc<Session>) {
        loop {
            self.tick(&session).await;
            tokio::time::sleep(self.interval).await;
            self.walk();
        }
    }

    /// Publishes the current prices once (nothing outside sandbox mode).
    pub async fn tick(&self, session: &Session) {
        let Some(sandbox) = session.sandbox() else {
            return;
        };
        let now = session.clock().now();
        let mut fed = Vec::with_capacity(self.quotes.len());
        for q in &self.quotes {
            let Ok(price) = Price::from_units(q.units) else {
                continue;
            };
            let Ok(quote) = Quote::last(price, now) else {
                continue;
            };
            sandbox.set_quote(q.exchange, &q.symbol, quote);
            fed.push((q.exchange, q.symbol.clone(), price));
        }
        // One risk step, so one journal record, per tick for every symbol.
        session.guard().on_quotes(&fed).await;
    }

    /// Moves every price by a random step within `walk_bps`, on its tick
    /// grid, never to zero or below.
    fn walk(&mut self) {
        if self.walk_bps == 0 {
            return;
        }
        for q in &mut self.quotes {
            let mut bytes = [0u8; 8];
            if self.random.fill(&mut bytes).is_err() {
                return;
            }
            let max_step = i128::from(q.units) * i128::from(self.walk_bps) / 10_000;
            let span = u64::try_from(max_step.saturating_mul(2).saturating_add(1)).unwrap_or(1);
            let draw = u64::from_le_bytes(bytes) % span.max(1);
            let step = i128::from(draw) - max_step;
            let moved = i128::from(q.units) + step;
            let on_grid = moved - moved.rem_euclid(i128::from(q.tick));
            if let Ok(units) = i64::try_from(on_grid)
                && units >= q.tick
            {
                q.units = units;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn the_walk_stays_on_the_tick_grid_within_its_step_and_above_zero() {
        let csv = "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\nNSE,SBIN,0.05,1,,,\n";
        let catalog = InstrumentCatalog::from_csv_reader(csv.as_bytes()).unwrap();
        let sbin = Symbol::new("SBIN").unwrap();
        let tcs = Symbol::new("TCS").unwrap();
        let prices = vec![
            (Exchange::Nse, sbin, "800".parse().unwrap()),
            (Exchange::Nse, tcs, "0.05".parse().unwrap()),
        ];
        let mut feed = QuoteFeed::new(prices, &catalog, 100, Duration::from_secs(1));
        assert_eq!(feed.len(), 2);
        let mut moved = false;
        for _ in 0..200 {
            let before = feed.quotes[0].units;
            feed.walk();
            let after = feed.quotes[0].units;
            assert_eq!(after % 500, 0, "off the 0.05 grid: {after}");
            assert!(
                (after - before).abs() <= before / 100 + 500,
                "{before} -> {after}"
            );
            moved |= after != before;
            assert!(feed.quotes[1].units >= 500, "a price fell to zero");
        }
        assert!(moved, "a 1% walk never moved in 200 ticks");
        let mut still = QuoteFeed::new(
            vec![(
                Exchange::Nse,
                Symbol::new("SBIN").unwrap(),
                "800".parse().unwrap(),
            )],
            &catalog,
            0,
            Duration::from_secs(1),
        );
        still.walk();
        assert_eq!(still.quotes[0].units, 8_000_000);
    }
}
