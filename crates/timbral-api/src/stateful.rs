//! The listener's own routes, over a stored profile: `POST /feedback`,
//! `GET /profile`, and `POST /recs` without a history (the staged
//! recommender on the stored tastes). This is the logic without the store:
//! the runtime finds the listener from their token ([`crate::auth`]), reads
//! their stored profile, calls [`Api::stateful`] and stores the profile it
//! returns, one request of a listener at a time (the Worker: a Durable
//! Object per listener around Workers KV).

use serde::Deserialize;
use timbral_core::taste::session::{decode_profile, encode_profile};
use timbral_core::taste::{Command, Feedback, Profile, Session};
use timbral_core::view::ItemId;

use crate::{core_error, parse_body, Api, Reply, Route};

/// A stateful request's reply, and the profile to store after it (`None`:
/// unchanged, nothing to write).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub reply: Reply,
    pub profile: Option<String>,
}

impl Outcome {
    fn only(reply: Reply) -> Outcome {
        Outcome {
            reply,
            profile: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    item: ItemId,
    kind: Feedback,
}

/// `POST /recs` on the stored profile: only `k` (a history would make it
/// the stateless route).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileRecsBody {
    k: Option<usize>,
}

impl Route {
    /// Whether a request is a listener's own, served from their stored
    /// profile: `/feedback` and `/profile` always, `/recs` when its body
    /// is a JSON object without `history` (`{}` or `{"k": 20}`).
    pub fn is_stateful(&self, body: &[u8]) -> bool {
        match self {
            Route::Feedback | Route::Profile => true,
            Route::Recs => serde_json::from_slice::<serde_json::Value>(body)
                .is_ok_and(|v| v.is_object() && v.get("history").is_none()),
            _ => false,
        }
    }
}

impl Api {
    /// Serves a stateful request on the listener's `stored` profile (base64,
    /// as the session protocol saves it; `None` for a new listener). A
    /// stored profile that does not decode is refused (500, naming why) and
    /// left as it is: never half-read, never overwritten.
    pub fn stateful(&self, route: &Route, body: &[u8], stored: Option<&str>) -> Outcome {
        let profile = match stored {
            None => Profile::default(),
            Some(b64) => match decode_profile(b64) {
                Ok(p) => p,
                Err(e) => {
                    return Outcome::only(Reply::error(
                        500,
                        format!("the stored profile cannot be read, and is left as it is: {e}"),
                    ))
                }
            },
        };
        let mut session = Session::new(profile);
        let command = match route {
            Route::Feedback => match parse_body::<FeedbackBody>(body) {
                Ok(b) => Command::Feedback {
                    item: b.item,
                    kind: b.kind,
                },
                Err(r) => return Outcome::only(r),
            },
            Route::Profile => Command::Profile,
            Route::Recs => {
                let k = match parse_body::<ProfileRecsBody>(body) {
                    Ok(b) => b.k,
                    Err(r) => return Outcome::only(r),
                };
                match crate::k_or(k, 10) {
                    Ok(k) => Command::Recommend { k },
                    Err(r) => return Outcome::only(r),
                }
            }
            other => {
                return Outcome::only(Reply::error(
                    500,
                    format!("{} is not a listener's route", other.label()),
                ))
            }
        };
        let reply = match session.handle(&self.model, command) {
            Ok(r) => Reply::json(200, &r),
            Err(e) => return Outcome::only(core_error(e)),
        };
        // `/profile` only reads; the others write what changed.
        let saved = (*route != Route::Profile).then(|| encode_profile(&session.profile));
        Outcome {
            reply,
            profile: saved.filter(|p| stored != Some(p.as_str())),
        }
    }

    /// What a runtime without a listener store answers on a stateful route.
    pub fn no_listener_store(route: &Route) -> Reply {
        Reply::error(
            501,
            format!(
                "{} needs a signed listener token and a profile store, which this server does \
                 not have (the Worker has them); send the history instead",
                route.label()
            ),
        )
    }
}
