//! The scale-out seam: a `Broker` carries room messages between server instances (Redis pub/sub or the like).

use tether_codec::EncodedFrame;

/// Carries room messages between server instances (e.g. over Redis pub/sub).
///
/// The server calls [`publish`](Broker::publish) for every [`Ctx::publish`](crate::Ctx::publish)
/// made on this instance, after delivering it locally. A broker delivers what other instances
/// published with [`ServerHandle::deliver`](crate::ServerHandle::deliver). Applications do not change when one is plugged in.
pub trait Broker: Send + Sync + 'static {
    /// Forward a message published to `room` on this instance to the other instances.
    fn publish(&self, room: &str, frame: &EncodedFrame);
}
