//! [`Member`] and [`MemberEvent`]: who is in a room, and who came and went.

/// One member of a room's presence ([`Hub::join`](super::Hub::join)), however many
/// connections and instances it is present from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    /// What tells members apart (a user id): several connections with one key are one member.
    pub key: String,
    /// What the app said of the member when it joined (a display name, some JSON, or
    /// nothing). Of several connections with one key, the first one's.
    pub meta: String,
}

/// A change in a room's members ([`Hub::member_events`](super::Hub::member_events)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEvent {
    /// A member that was in the room nowhere (on no connection of any instance) now is.
    Joined(Member),
    /// A member's last connection left the room, or the instance that held it stopped
    /// answering (see the backend for how soon that is noticed).
    Left(Member),
    /// This listener fell behind and missed changes: read [`Hub::members`](super::Hub::members)
    /// again.
    Resync,
}
