//! A local receiver of webhooks that records what it gets and answers as told, and the
//! receiver's side of Standard Webhooks.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Ok,
    Status(u16),
    TooManyRequests {
        retry_after_secs: u32,
    },
    /// Never within any attempt timeout of these tests.
    Hang,
}

/// A request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A receiver of webhooks on a random local port.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    reply: Arc<Mutex<Reply>>,
    requests: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// A receiver on a random port, answering 200 until told otherwise.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            reply: Arc::new(Mutex::new(Reply::Ok)),
            requests: Arc::default(),
        };
        let router = Router::new()
            .route("/hook", post(answer))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        receiver
    }

    pub fn answer_with(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

async fn answer(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    receiver
        .requests
        .lock()
        .unwrap()
        .push(Received { headers, body });
    let reply = *receiver.reply.lock().unwrap();
    match reply {
        Reply::Ok => StatusCode::NO_CONTENT.into_response(),
        Reply::Status(status) => StatusCode::from_u16(status).unwrap().into_response(),
        Reply::TooManyRequests { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after_secs.to_string())],
        )
            .into_response(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK.into_response()
        }
    }
}

/// The receiver's side of Standard Webhooks, written from the specification.
pub fn verify(secret: &str, request: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut signed = format!(
        "{}.{}.",
        request.header("webhook-id"),
        request.header("webhook-timestamp")
    )
    .into_bytes();
    signed.extend_from_slice(&request.body);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(&signed);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    request
        .header("webhook-signature")
        .split(' ')
        .any(|signature| signature == expected)
}
