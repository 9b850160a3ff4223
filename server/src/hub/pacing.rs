//! Push pacing: a sensor's first change after a quiet spell goes out with
//! the next flush; later ones wait until `coalesce` after its last push,
//! then go out carrying its latest state. Wall time here paces pushes only.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Which changed sensors a flush may push now, and which wait.
#[derive(Debug, Default)]
pub struct Pacing {
    /// Changed sensors the next flush pushes.
    ready: BTreeSet<String>,
    /// Changed sensors pushed less than `coalesce` ago, by when they are due.
    held: BTreeSet<(Instant, String)>,
    /// When each held sensor is due (the same as `held`, by id).
    due: BTreeMap<String, Instant>,
    /// When each sensor was last pushed.
    sent_at: BTreeMap<String, Instant>,
}

impl Pacing {
    /// `id` changed at `now`: ready, unless it was pushed less than
    /// `coalesce` ago (then held until then). A sensor already ready or
    /// held stays as it is (its latest state goes out when it is pushed).
    pub fn changed(&mut self, id: &str, now: Instant, coalesce: Duration) {
        if self.due.contains_key(id) || self.ready.contains(id) {
            return;
        }
        match self.sent_at.get(id).map(|at| *at + coalesce) {
            Some(due) if due > now => {
                self.held.insert((due, id.to_string()));
                self.due.insert(id.to_string(), due);
            }
            _ => {
                self.ready.insert(id.to_string());
            }
        }
    }

    /// The sensors to push at `now` (the ready ones and the held ones due
    /// by then), noted as pushed at `now`.
    pub fn take(&mut self, now: Instant) -> BTreeSet<String> {
        while let Some((at, _)) = self.held.first()
            && *at <= now
        {
            if let Some((_, id)) = self.held.pop_first() {
                self.due.remove(&id);
                self.ready.insert(id);
            }
        }
        let ready = std::mem::take(&mut self.ready);
        for id in &ready {
            self.sent_at.insert(id.clone(), now);
        }
        ready
    }

    /// Whether a sensor is ready to push now.
    pub fn any_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// When the first held sensor falls due.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.first().map(|(at, _)| *at)
    }

    /// Forgets sensors that left the hot tier.
    pub fn forget<'a>(&mut self, ids: impl IntoIterator<Item = &'a String>) {
        for id in ids {
            self.ready.remove(id);
            self.sent_at.remove(id);
            if let Some(due) = self.due.remove(id) {
                self.held.remove(&(due, id.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COALESCE: Duration = Duration::from_millis(500);

    fn ids(set: BTreeSet<String>) -> Vec<String> {
        set.into_iter().collect()
    }

    #[test]
    fn a_first_change_goes_at_once_and_later_ones_wait_for_coalesce() {
        let mut pacing = Pacing::default();
        let t0 = Instant::now();
        pacing.changed("s1", t0, COALESCE);
        assert!(pacing.any_ready());
        assert_eq!(ids(pacing.take(t0)), ["s1"]);
        // Changed again 100 ms after its push: held until 500 ms after it.
        let t1 = t0 + Duration::from_millis(100);
        pacing.changed("s1", t1, COALESCE);
        pacing.changed("s1", t1, COALESCE);
        assert!(!pacing.any_ready());
        assert_eq!(pacing.next_due(), Some(t0 + COALESCE));
        assert!(pacing.take(t1).is_empty());
        assert_eq!(ids(pacing.take(t0 + COALESCE)), ["s1"]);
        assert_eq!(pacing.next_due(), None);
        // Quiet for longer than coalesce: the next change is ready at once.
        let t2 = t0 + 3 * COALESCE;
        pacing.changed("s1", t2, COALESCE);
        assert!(pacing.any_ready());
    }

    #[test]
    fn sensors_are_paced_apart_and_forgotten_ones_leave_no_trace() {
        let mut pacing = Pacing::default();
        let t0 = Instant::now();
        pacing.changed("a", t0, COALESCE);
        pacing.changed("b", t0, COALESCE);
        assert_eq!(ids(pacing.take(t0)), ["a", "b"]);
        let t1 = t0 + Duration::from_millis(10);
        pacing.changed("a", t1, COALESCE);
        pacing.changed("c", t1, COALESCE);
        assert_eq!(ids(pacing.take(t1)), ["c"], "a is held");
        pacing.forget([&"a".to_string()]);
        assert_eq!(pacing.next_due(), None);
        assert!(pacing.take(t0 + COALESCE).is_empty());
        // Forgotten, so never pushed: its next change is ready at once.
        pacing.changed("a", t1, COALESCE);
        assert!(pacing.any_ready());
    }
}
