//! The application as hyper calls it, with the request and response bodies watched so the
//! connection knows when an exchange is over.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tower::ServiceExt;

use super::activity::Activity;

#[derive(Clone)]
pub(super) struct AppService {
    router: Router,
    activity: Arc<Activity>,
    /// The TCP peer: what the limit on failed authentications counts by.
    peer: SocketAddr,
}

impl AppService {
    pub fn new(router: Router, activity: Arc<Activity>, peer: SocketAddr) -> AppService {
        AppService { router, activity, peer }
    }
}

type Answer = Result<Response<Watched<AxumBody>>, Infallible>;

impl hyper::service::Service<Request<Incoming>> for AppService {
    type Response = Response<Watched<AxumBody>>;
    type Error = Infallible;
    // Boxed: hyper keeps room for one response future per connection for the connection's
    // whole life; a pointer keeps that small, and the future itself lives only per request.
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let activity = self.activity.clone();
        activity.request_started(!request.body().is_end_stream());
        let mut request = request.map(|body| AxumBody::new(Watched::request(body, activity.clone())));
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let answer = self.router.clone().oneshot(request);
        Box::pin(async move {
            let response = match answer.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            activity.response_ready(!response.body().is_end_stream());
            Ok(response.map(|body| Watched::response(body, activity)))
        })
    }
}

/// A body that tells the connection's `Activity` when it has been read to its end.
pub(super) struct Watched<B> {
    inner: B,
    side: Side,
    activity: Option<Arc<Activity>>,
}

#[derive(Clone, Copy)]
enum Side {
    Request,
    Response,
}

impl<B: Body> Watched<B> {
    fn request(inner: B, activity: Arc<Activity>) -> Self {
        Self::new(inner, Side::Request, activity)
    }

    fn response(inner: B, activity: Arc<Activity>) -> Self {
        Self::new(inner, Side::Response, activity)
    }

    fn new(inner: B, side: Side, activity: Arc<Activity>) -> Self {
        // An empty body has ended already (and `request_started`/`response_ready` knew it).
        let activity = (!inner.is_end_stream()).then_some(activity);
        Watched { inner, side, activity }
    }

    fn check_end(&mut self) {
        if self.inner.is_end_stream() {
            self.ended();
        }
    }

    fn ended(&mut self) {
        if let Some(activity) = self.activity.take() {
            match self.side {
                Side::Request => activity.request_body_ended(),
                Side::Response => activity.response_body_ended(),
            }
        }
    }
}

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.ended(),
            Poll::Ready(Some(Ok(_))) => self.check_end(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
