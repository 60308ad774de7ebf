//! What several modules' unit tests share.

use proptest::prelude::*;
use serde_json::Value;

/// One Stripe event of a test story: its type, its object, its `created` second.
pub type StoryEvent = (&'static str, Value, i64);

/// A story number below `stories`, and a random multiset of that story's events (each at least
/// once) in random order: what at-least-once, unordered webhook delivery can hand Remit.
pub fn deliveries(stories: u8, story: fn(u8) -> Vec<StoryEvent>) -> impl Strategy<Value = (u8, Vec<StoryEvent>)> {
    (0..stories, proptest::collection::vec(any::<prop::sample::Index>(), 0..10)).prop_flat_map(move |(kind, extra)| {
        let events = story(kind);
        let mut delivered = events.clone();
        delivered.extend(extra.iter().map(|i| events[i.index(events.len())].clone()));
        (Just(kind), Just(delivered).prop_shuffle())
    })
}
