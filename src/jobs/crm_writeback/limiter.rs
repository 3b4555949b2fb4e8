//! A client-side limit of calls per rolling window, as HubSpot and Salesforce count them:
//! whatever the pace, no window of that length ever holds more than `max` calls.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

use tokio::time::Instant;

/// Added to the window: a call counted here at `t` reaches the CRM a little later.
const MARGIN: Duration = Duration::from_millis(250);

/// At most `max` calls in any `window`.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl Limiter {
    /// `max` calls (at least 1) per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: usize::try_from(max.max(1)).unwrap_or(usize::MAX),
            window: window + MARGIN,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until a call fits in the window, and counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                while sent.front().is_some_and(|t| now - *t >= self.window) {
                    sent.pop_front();
                }
                if sent.len() < self.max {
                    sent.push_back(now);
                    return;
                }
                sent.front()
                    .map_or(Duration::ZERO, |t| self.window - (now - *t))
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_window_holds_more_than_max_calls() {
        let limiter = Limiter::new(3, Duration::from_millis(100));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..7 {
            limiter.acquire().await;
            at.push(start.elapsed());
        }
        let window = Duration::from_millis(100) + MARGIN;
        for (i, t) in at.iter().enumerate().skip(3) {
            assert!(*t - at[i - 3] >= window, "{at:?}");
        }
        assert!(at[2] < Duration::from_millis(50), "{at:?}");
    }
}
