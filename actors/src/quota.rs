//! What one user may send in a day: messages and their bytes (edits count as messages). In
//! memory, per node; a day is a UTC calendar day.

use chatalot_protocol::ids::UserId;
use std::collections::HashMap;
use std::sync::Mutex;

/// Users remembered before the entries of earlier days are dropped.
const PRUNE_AT: usize = 100_000;

#[derive(Clone, Copy)]
struct Used {
    day: u64,
    messages: u64,
    bytes: u64,
}

/// The daily allowance of every user.
pub struct DailyQuota {
    used: Mutex<HashMap<UserId, Used>>,
    messages: u64,
    bytes: u64,
}

/// Which allowance a send would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Messages(u64),
    Bytes(u64),
}

impl DailyQuota {
    /// At most `messages` messages and `bytes` bytes per user per day.
    pub fn new(messages: u64, bytes: u64) -> DailyQuota {
        DailyQuota {
            used: Mutex::new(HashMap::new()),
            messages,
            bytes,
        }
    }

    /// Counts one message of `bytes` for `user` today, unless it would pass an allowance.
    pub fn take(&self, user: UserId, bytes: u64) -> Result<(), Exceeded> {
        let day = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64 / 86_400;
        self.take_on(user, bytes, day)
    }

    fn take_on(&self, user: UserId, bytes: u64, day: u64) -> Result<(), Exceeded> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.len() >= PRUNE_AT && !used.contains_key(&user) {
            used.retain(|_, u| u.day == day);
        }
        let u = used.entry(user).or_insert(Used {
            day,
            messages: 0,
            bytes: 0,
        });
        if u.day != day {
            *u = Used {
                day,
                messages: 0,
                bytes: 0,
            };
        }
        if u.messages + 1 > self.messages {
            return Err(Exceeded::Messages(self.messages));
        }
        if u.bytes + bytes > self.bytes {
            return Err(Exceeded::Bytes(self.bytes));
        }
        u.messages += 1;
        u.bytes += bytes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_a_daily_allowance_in_messages_and_bytes() {
        let q = DailyQuota::new(3, 100);
        let (a, b) = (UserId::new(), UserId::new());
        for _ in 0..3 {
            q.take_on(a, 10, 1).expect("allowed");
        }
        assert_eq!(q.take_on(a, 10, 1), Err(Exceeded::Messages(3)));
        assert_eq!(q.take_on(b, 101, 1), Err(Exceeded::Bytes(100)));
        q.take_on(b, 100, 1).expect("exactly the allowance");
        // a new day, a new allowance
        q.take_on(a, 10, 2).expect("next day");
    }
}
