//! A response body that passes its frames on unchanged but for what a hook does as each one
//! passes: the body wrapper the tower layers around the services share. The hook lives as long
//! as the body, so whatever it holds (a call's guard, a call not yet counted) is dropped with
//! the response.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};

/// What a layer does to a response's frames as they pass.
pub trait FrameHook<D> {
    /// Called with each frame (data or trailers) as it passes, and with `None` once when the
    /// body ends; not for a body's error.
    fn on_frame(&mut self, _frame: Option<&mut Frame<D>>) {}
}

/// `inner` with `hook` seeing its frames.
pub struct HookedBody<B, H> {
    inner: B,
    hook: H,
}

impl<B, H> HookedBody<B, H> {
    pub fn new(inner: B, hook: H) -> Self {
        Self { inner, hook }
    }
}

impl<B: Body + Unpin, H: FrameHook<B::Data> + Unpin> Body for HookedBody<B, H> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let mut frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &mut frame {
            Some(Ok(frame)) => this.hook.on_frame(Some(frame)),
            Some(Err(_)) => {}
            None => this.hook.on_frame(None),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
