//! The web app (feature `server`): a local axum server with the three activities' page, a JSON
//! API over the simulated [`Hub`], and server-sent events for what the hub pushes.
//!
//! | route | what |
//! |---|---|
//! | `GET /` , `/app.js`, `/style.css` | the page (plain JavaScript embedded in the binary) |
//! | `POST /api/session` | a new session: `{"id": …}` (201) |
//! | `GET /api/session/{id}` | the session's whole state, for a reload |
//! | `POST /api/session/{id}/{activity}` | a hub message `{"action", "payload"}` → `{"events": […]}` |
//! | `GET /api/session/{id}/events` | server-sent events: every event of the session, and the crawler's moves while it runs |
//!
//! Bad requests get a 4xx with `{"error": "…"}` and leave the session unchanged: malformed JSON
//! or an unknown field (400), an unknown session (404) or activity or action (400), a value
//! out of range (422), a body over [`MAX_BODY`] bytes (413). Sessions do not see each other and
//! expire after [`SESSION_TTL`] without a request; at most [`MAX_SESSIONS`] live at once (503
//! beyond).

use crate::hub::{Activity, Event, Hub, Message};
use crate::BricksError;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// The largest request body accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// A session without a request for this long is dropped.
pub const SESSION_TTL: Duration = Duration::from_secs(60 * 60);
/// The most sessions alive at once.
pub const MAX_SESSIONS: usize = 10_000;
/// The crawler's time per move (the page animates the arm meanwhile).
pub const MOVE_INTERVAL: Duration = Duration::from_millis(400);
/// … with "wait before next move" on.
pub const MOVE_INTERVAL_WAIT: Duration = Duration::from_millis(1500);

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STYLE_CSS: &str = include_str!("../static/style.css");

struct Session {
    hub: Hub,
    last_seen: Instant,
    next_move: Instant,
    events: broadcast::Sender<Event>,
}

/// The server's shared state: the sessions.
#[derive(Clone)]
pub struct AppState {
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    ids: RandomState,
    counter: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for AppState {
    fn default() -> Self {
        Self::new()
    }
}

impl AppState {
    /// No sessions yet.
    pub fn new() -> Self {
        Self {
            sessions: Arc::new(Mutex::new(HashMap::new())),
            ids: RandomState::new(),
            counter: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// An id nobody else can guess from theirs: two 64-bit hashes of a counter under this
    /// process's random hash keys (not a cryptographic token; the server listens on loopback).
    fn new_id(&self) -> (String, u64) {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let a = self.ids.hash_one((n, 0u8));
        let b = self.ids.hash_one((n, 1u8));
        (format!("{a:016x}{b:016x}"), a)
    }

    /// Moves every running crawler whose time has come, and drops expired sessions.
    pub fn tick(&self) {
        let now = Instant::now();
        let Ok(mut sessions) = self.sessions.lock() else {
            return;
        };
        sessions.retain(|_, s| now.duration_since(s.last_seen) < SESSION_TTL);
        for s in sessions.values_mut() {
            if !s.hub.crawler.running || now < s.next_move {
                continue;
            }
            s.next_move = now
                + if s.hub.crawler.wait {
                    MOVE_INTERVAL_WAIT
                } else {
                    MOVE_INTERVAL
                };
            match s.hub.tick() {
                Ok(events) => {
                    for e in events {
                        let _ = s.events.send(e);
                    }
                }
                Err(e) => {
                    s.hub.crawler.running = false;
                    let _ = s.events.send(Event {
                        action: "error".into(),
                        payload: json!({ "error": e.to_string() }),
                    });
                }
            }
        }
    }
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

fn status_of(e: &BricksError) -> StatusCode {
    match e {
        BricksError::Protocol(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

async fn create(State(app): State<AppState>) -> Response {
    let Ok(mut sessions) = app.sessions.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "session store unavailable",
        );
    };
    if sessions.len() >= MAX_SESSIONS {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many sessions; try again later",
        );
    }
    let (id, seed) = app.new_id();
    let (tx, _) = broadcast::channel(256);
    let now = Instant::now();
    sessions.insert(
        id.clone(),
        Session {
            hub: Hub::new(seed),
            last_seen: now,
            next_move: now,
            events: tx,
        },
    );
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

async fn state(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(mut sessions) = app.sessions.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "session store unavailable",
        );
    };
    match sessions.get_mut(&id) {
        Some(s) => {
            s.last_seen = Instant::now();
            Json(s.hub.state()).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            format!("no session {id:?} (expired or never made)"),
        ),
    }
}

async fn action(
    State(app): State<AppState>,
    Path((id, activity)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let activity: Activity = match activity.parse() {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let msg: Message = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body must be JSON {{\"action\": …, \"payload\": …}}: {e}"),
            )
        }
    };
    let Ok(mut sessions) = app.sessions.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "session store unavailable",
        );
    };
    let Some(s) = sessions.get_mut(&id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no session {id:?} (expired or never made)"),
        );
    };
    s.last_seen = Instant::now();
    match s.hub.handle(activity, &msg) {
        Ok(events) => {
            for e in &events {
                let _ = s.events.send(e.clone());
            }
            Json(json!({ "events": events })).into_response()
        }
        Err(e) => error(status_of(&e), e.to_string()),
    }
}

async fn events(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let rx = {
        let Ok(sessions) = app.sessions.lock() else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "session store unavailable",
            );
        };
        match sessions.get(&id) {
            Some(s) => s.events.subscribe(),
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("no session {id:?} (expired or never made)"),
                )
            }
        }
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let data = match rx.recv().await {
            Ok(e) => serde_json::to_string(&e).unwrap_or_else(|_| "{}".into()),
            // A slow reader missed events: it goes on with the next ones (the page reloads
            // the state on a gap).
            Err(broadcast::error::RecvError::Lagged(_)) => {
                json!({ "action": "lagged", "payload": Value::Null }).to_string()
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(sse::Event::default().data(data)), rx))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The app's routes over `app`.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { page("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { page("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/api/session", post(create))
        .route("/api/session/{id}", get(state))
        .route("/api/session/{id}/events", get(events))
        .route("/api/session/{id}/{activity}", post(action))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// Serves the app on `listener` until the process ends, moving running crawlers every 50 ms.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let app = AppState::new();
    let ticker = app.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(50));
        loop {
            every.tick().await;
            ticker.tick();
        }
    });
    axum::serve(listener, router(app)).await
}

/// Starts the app on a free port of 127.0.0.1 in a background thread with its own runtime, and
/// returns its address once it listens (for tests, benches and load tests). The server runs
/// until the process ends.
pub fn spawn_on_loopback() -> std::io::Result<std::net::SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("ml-bricks-server".into())
        .spawn(move || {
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                let bound = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .and_then(|l| l.local_addr().map(|a| (l, a)));
                match bound {
                    Ok((listener, addr)) => {
                        let _ = tx.send(Ok(addr));
                        let _ = serve(listener).await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })?;
    rx.recv()
        .map_err(|_| std::io::Error::other("the server thread ended before it listened"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session idle past the time-to-live is dropped by the ticker; a fresh one stays.
    #[test]
    fn idle_sessions_expire() {
        let app = AppState::new();
        let now = Instant::now();
        let Some(old) = now.checked_sub(SESSION_TTL + Duration::from_secs(1)) else {
            return; // a clock too young to go back an hour: nothing to test
        };
        {
            let mut s = app.sessions.lock().unwrap();
            for (id, seen) in [("old", old), ("new", now)] {
                let (tx, _) = broadcast::channel(4);
                s.insert(
                    id.into(),
                    Session {
                        hub: Hub::new(1),
                        last_seen: seen,
                        next_move: now,
                        events: tx,
                    },
                );
            }
        }
        app.tick();
        let s = app.sessions.lock().unwrap();
        assert!(!s.contains_key("old") && s.contains_key("new"));
    }

    /// Ids are distinct and 32 hex digits.
    #[test]
    fn ids_are_distinct() {
        let app = AppState::new();
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| app.new_id().0).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids
            .iter()
            .all(|i| i.len() == 32 && i.chars().all(|c| c.is_ascii_hexdigit())));
    }
}
