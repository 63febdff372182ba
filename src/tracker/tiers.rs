//! A torrent's trackers as BEP 12 tiers.
//!
//! Tiers are tried in order and the trackers of a tier one after another; each tier is
//! shuffled once, when the list is made. A tracker that answers moves to the front of its
//! tier, so the next announce starts with it. Empty URLs and empty tiers are dropped at
//! construction, so every tier holds at least one URL.

use std::time::Duration;

use super::announce::{AnnounceRequest, AnnounceResponse};
use super::{Client, TrackerError};

/// The trackers of one torrent, grouped in tiers (BEP 12 `announce-list`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerList {
    tiers: Vec<Vec<String>>,
}

impl TrackerList {
    /// Takes the tiers in order, shuffling each one.
    pub fn new(tiers: Vec<Vec<String>>) -> TrackerList {
        let tiers = tiers
            .into_iter()
            .map(|tier| {
                let mut tier: Vec<String> =
                    tier.into_iter().filter(|url| !url.is_empty()).collect();
                fastrand::shuffle(&mut tier);
                tier
            })
            .filter(|tier| !tier.is_empty())
            .collect();
        TrackerList { tiers }
    }

    /// The tiers in their current order.
    pub fn tiers(&self) -> &[Vec<String>] {
        &self.tiers
    }

    /// Announces to trackers in BEP 12 order until one answers; each try gets `timeout`.
    /// Returns the URL that answered with its reply, or the last tracker's error.
    pub fn announce(
        &mut self,
        client: &Client,
        req: &AnnounceRequest,
        timeout: Duration,
    ) -> Result<(String, AnnounceResponse), TrackerError> {
        self.announce_with(|url| client.announce(url, req, timeout))
    }

    /// The walk itself, with the announce as a function so the order can be tested alone.
    fn announce_with(
        &mut self,
        mut try_one: impl FnMut(&str) -> Result<AnnounceResponse, TrackerError>,
    ) -> Result<(String, AnnounceResponse), TrackerError> {
        let mut last = TrackerError::NoTrackers;
        for tier in &mut self.tiers {
            for index in 0..tier.len() {
                match try_one(&tier[index]) {
                    Ok(reply) => {
                        let url = tier.remove(index);
                        tier.insert(0, url.clone());
                        return Ok((url, reply));
                    }
                    Err(err) => last = err,
                }
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> AnnounceResponse {
        AnnounceResponse {
            interval: Duration::from_secs(1),
            min_interval: None,
            peers: vec![],
            warning: None,
            complete: None,
            incomplete: None,
        }
    }

    fn urls(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn tiers_are_tried_in_order_and_the_answering_tracker_moves_first() {
        let mut list = TrackerList::new(vec![urls(&["a1", "a2"]), urls(&["b1", "b2", "b3"])]);
        let before = list.tiers().to_vec();
        let b3_at = before[1].iter().position(|url| url == "b3").expect("b3 listed");
        let expected: Vec<String> = [&before[0][..], &before[1][..=b3_at]].concat();
        let mut tried = Vec::new();
        let (url, _) = list
            .announce_with(|url| {
                tried.push(url.to_string());
                if url == "b3" { Ok(reply()) } else { Err(TrackerError::NoTrackers) }
            })
            .expect("b3 answers");
        assert_eq!(url, "b3");
        assert_eq!(tried, expected, "tier by tier, in each tier's shuffled order");
        assert_eq!(list.tiers()[1][0], "b3");
        assert_eq!(list.tiers()[0], before[0]);
    }

    #[test]
    fn all_failing_returns_the_last_error() {
        let mut list = TrackerList::new(vec![urls(&["x"]), vec![], urls(&[""])]);
        assert_eq!(list.tiers().len(), 1);
        let err = list
            .announce_with(|url| Err(TrackerError::UnsupportedScheme { url: url.into() }))
            .expect_err("nobody answers");
        assert_eq!(err, TrackerError::UnsupportedScheme { url: "x".into() });
        let mut empty = TrackerList::new(vec![]);
        assert_eq!(empty.announce_with(|_| Ok(reply())), Err(TrackerError::NoTrackers));
    }
}
