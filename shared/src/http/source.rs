//! The source address of a request, as the transport saw it: the peer of the TCP connection in
//! the local server (axum's `ConnectInfo`), the request context in Lambda (API Gateway's
//! `sourceIp`). Never `X-Forwarded-For` or any other header a client can write.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
#[cfg(feature = "lambda")]
use lambda_http::RequestExt;
#[cfg(feature = "lambda")]
use lambda_http::request::RequestContext;

use crate::domain::throttle::SourceAddress;

/// The caller's source address (`SourceAddress::Unknown` when the transport does not say).
pub struct Source(pub SourceAddress);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(source_address(parts)))
    }
}

/// Where `parts` came from.
pub fn source_address(parts: &Parts) -> SourceAddress {
    if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        return SourceAddress::Ip(peer.ip());
    }
    lambda_source_ip(parts)
        .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
        .map_or(SourceAddress::Unknown, SourceAddress::Ip)
}

/// API Gateway's view of the caller (`requestContext.http.sourceIp`): the HTTP API's payload 2.0,
/// which Function URLs send too. `lambda_http` is built with that event type only (issue 14): a
/// REST API, ALB or WebSocket event is not one the functions can parse.
#[cfg(feature = "lambda")]
fn lambda_source_ip(parts: &Parts) -> Option<&str> {
    match parts.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        _ => None,
    }
}

/// Without Lambda (the local server, the tests) only the connection tells.
#[cfg(not(feature = "lambda"))]
fn lambda_source_ip(_: &Parts) -> Option<&str> {
    None
}

#[cfg(all(test, feature = "lambda"))]
mod tests {
    use super::*;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;

    fn parts() -> Parts {
        let (parts, ()) = axum::http::Request::new(()).into_parts();
        parts
    }

    #[test]
    fn a_forwarded_header_is_not_an_address() {
        let mut parts = parts();
        parts
            .headers
            .insert("x-forwarded-for", "198.51.100.1".parse().expect("value"));
        assert_eq!(source_address(&parts), SourceAddress::Unknown);
    }

    #[test]
    fn the_peer_and_the_lambda_context_are() {
        let mut parts = parts();
        let peer: SocketAddr = "192.0.2.4:5000".parse().expect("addr");
        parts.extensions.insert(ConnectInfo(peer));
        assert_eq!(source_address(&parts), SourceAddress::Ip(peer.ip()));

        let mut parts = self::parts();
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some("203.0.113.9".to_owned());
        parts
            .extensions
            .insert(RequestContext::ApiGatewayV2(context));
        assert_eq!(
            source_address(&parts),
            SourceAddress::Ip("203.0.113.9".parse().expect("ip"))
        );
    }
}
