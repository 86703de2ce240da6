//! [`Backend`]: what carries a hub's messages to the app's other instances.

use crate::message::Outbound;

/// Carries published messages between instances of the app. The hub calls
/// [`publish`](Backend::publish) for every local publish; the backend delivers messages from
/// other instances with [`Hub::deliver_local`](super::Hub::deliver_local).
pub trait Backend: Send + Sync + 'static {
    /// Sends a locally published message to the other instances.
    fn publish(&self, room: &str, message: &Outbound);
}
