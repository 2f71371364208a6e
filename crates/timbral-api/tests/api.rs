//! The API natively (the Worker and the native server serve it), on the
//! core's two-style fixture: every route, and every kind of bad input gets
//! a 4xx whose error names the problem.
//! (The same routes are tested over HTTP on workerd by worker/tests/run.mjs.)

use serde_json::{json, Value};
use timbral_api::{parse_body, route, Api, Reply, Route, SearchBody, MAX_BODY};

fn api() -> Api {
    Api::from_bytes(&timbral_core::fixture::two_styles()).unwrap()
}

fn post(api: &Api, path: &str, body: &str) -> (u16, Value) {
    let r = route("POST", path).unwrap();
    decode(api.handle(&r, "", body.as_bytes()))
}

fn get(api: &Api, path_and_query: &str) -> (u16, Value) {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let r = route("GET", path).unwrap();
    decode(api.handle(&r, query, b""))
}

fn decode(r: Reply) -> (u16, Value) {
    (
        r.status,
        serde_json::from_str(&r.body).expect("a JSON body"),
    )
}

fn error(v: &Value) -> &str {
    v["error"].as_str().expect("an error message")
}

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("an array of items")
        .iter()
        .map(|x| x["item"].as_str().unwrap())
        .collect()
}

#[test]
fn routes_unknown_paths_and_wrong_methods() {
    assert_eq!(route("GET", "/healthz"), Ok(Route::Healthz));
    assert_eq!(route("POST", "/recs/"), Ok(Route::Recs));
    assert_eq!(
        route("GET", "/recs/track/a%201"),
        Ok(Route::SimilarTrack("a 1".into()))
    );
    let r = route("GET", "/nope").unwrap_err();
    assert_eq!(r.status, 404);
    assert!(r.body.contains("/nope"));
    let r = route("GET", "/recs").unwrap_err();
    assert_eq!(r.status, 405);
    assert!(r.body.contains("POST"));
    assert_eq!(route("POST", "/recs/track/").unwrap_err().status, 404);
}

#[test]
fn recs_are_explained_and_leave_out_the_history() {
    let api = api();
    let (status, v) = post(
        &api,
        "/recs",
        r#"{"history":[{"item":"a0","plays":5},{"item":"a1"}],"k":3}"#,
    );
    assert_eq!(status, 200, "{v}");
    let items = &v["items"];
    let got = ids(items);
    assert_eq!(got.len(), 3);
    assert!(!got.contains(&"a0") && !got.contains(&"a1"));
    // The other folk artist comes first; every item explains itself.
    assert_eq!(got[0], "a2");
    for it in items.as_array().unwrap() {
        let e = &it["explanation"];
        assert!(e["cf"].is_number() && e["content"].is_number() && e["popularity"].is_number());
        assert!(e["because"].is_array() && e["sharedTags"].is_array());
    }
}

#[test]
fn bad_bodies_are_refused_with_the_reason() {
    let api = api();
    let (s, v) = post(&api, "/recs", r#"{"history": [}"#);
    assert_eq!(s, 400);
    assert!(
        error(&v).contains("malformed JSON") && error(&v).contains("column"),
        "{v}"
    );

    let (s, v) = post(&api, "/recs", r#"{"history": [], "kk": 3}"#);
    assert_eq!(s, 400);
    assert!(error(&v).contains("unknown field `kk`"), "{v}");

    let (s, v) = post(
        &api,
        "/recs",
        r#"{"history": [{"item": "a0", "plays": -1}]}"#,
    );
    assert_eq!(s, 400);
    assert!(error(&v).contains("plays"), "{v}");

    let (s, v) = post(&api, "/recs", "");
    assert_eq!(s, 400);
    assert!(error(&v).contains("body is required"), "{v}");

    for k in [0, 201] {
        let (s, v) = post(&api, "/recs", &format!(r#"{{"history": [], "k": {k}}}"#));
        assert_eq!(s, 400);
        assert!(error(&v).contains("between 1 and 200"), "{v}");
    }
    let (s, v) = post(&api, "/recs", r#"{"history": [], "k": -3}"#);
    assert_eq!(s, 400, "{v}");

    let big = format!(r#"{{"history": [], "pad": "{}"}}"#, "x".repeat(MAX_BODY));
    let r = parse_body::<Value>(big.as_bytes()).unwrap_err();
    assert_eq!(r.status, 413);
    assert!(r.body.contains(&MAX_BODY.to_string()), "{}", r.body);
}

#[test]
fn unknown_ids_are_404_naming_the_id() {
    let api = api();
    let (s, v) = post(&api, "/recs", r#"{"history": [{"item": "zz9"}]}"#);
    assert_eq!(s, 404);
    assert!(error(&v).contains("zz9"), "{v}");
    // Numeric ids (HetRec's) may come as numbers.
    let (s, v) = post(&api, "/recs", r#"{"history": [{"item": 77}]}"#);
    assert_eq!(s, 404);
    assert!(error(&v).contains("`77`"), "{v}");
    let (s, v) = get(&api, "/recs/track/zz9");
    assert_eq!(s, 404);
    assert!(error(&v).contains("zz9"), "{v}");
    let (s, v) = post(&api, "/autofill", r#"{"seeds": ["a0", "nope"]}"#);
    assert_eq!(s, 404);
    assert!(error(&v).contains("nope"), "{v}");
}

#[test]
fn similar_takes_only_k() {
    let api = api();
    let (s, v) = get(&api, "/recs/track/a3?k=2");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["item"]["item"], "a3");
    let got = ids(&v["items"]);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|i| ["a4", "a5"].contains(i)), "{got:?}");
    assert_eq!(get(&api, "/recs/track/a3?k=ten").0, 400);
    assert_eq!(get(&api, "/recs/track/a3?k=0").0, 400);
    let (s, v) = get(&api, "/recs/track/a3?limit=2");
    assert_eq!(s, 400);
    assert!(error(&v).contains("limit"));
}

#[test]
fn search_by_words_or_by_embedding() {
    let api = api();
    let body: SearchBody = serde_json::from_str(r#"{"query": "metal", "k": 3}"#).unwrap();
    let (s, v) = decode(api.search(&body, None));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["mode"], "words");
    assert_eq!(ids(&v["items"]).len(), 3);
    // The fixture's content space is 2-d: (1, 0) is the folk corner. A
    // query that names no label is ranked by its embedding...
    let quiet: SearchBody = serde_json::from_str(r#"{"query": "quiet evenings", "k": 3}"#).unwrap();
    let (s, v) = decode(api.search(&quiet, Some(&[1.0, 0.0])));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["mode"], "semantic");
    assert!(ids(&v["items"])
        .iter()
        .all(|i| ["a0", "a1", "a2"].contains(i)));
    // ...one that names a label gets the items the crowd gave it.
    let (_, v) = decode(api.search(&body, Some(&[1.0, 0.0])));
    assert!(ids(&v["items"])
        .iter()
        .all(|i| ["a3", "a4", "a5"].contains(i)));

    let empty: SearchBody = serde_json::from_str(r#"{"query": "  "}"#).unwrap();
    let (s, v) = decode(api.search(&empty, None));
    assert_eq!(s, 400);
    assert_eq!(error(&v), "query is empty");
    let bad_k: SearchBody = serde_json::from_str(r#"{"query": "folk", "k": 500}"#).unwrap();
    assert_eq!(api.search(&bad_k, None).status, 400);
}

#[test]
fn home_has_carousels_without_the_history() {
    let api = api();
    let (s, v) = post(
        &api,
        "/recs/home",
        r#"{"history": [{"item": "a3", "plays": 9}], "k": 2}"#,
    );
    assert_eq!(s, 200, "{v}");
    let carousels = v["carousels"].as_array().unwrap();
    let titles: Vec<&str> = carousels
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles[0], "For you");
    assert!(titles.contains(&"Because you like Artist 3"), "{titles:?}");
    assert!(titles.contains(&"metal mix"), "{titles:?}");
    assert_eq!(*titles.last().unwrap(), "Popular now");
    for c in carousels {
        let got = ids(&c["items"]);
        assert!(!got.is_empty() && got.len() <= 2, "{c}");
        assert!(!got.contains(&"a3"), "{c}");
    }
}

#[test]
fn coldstart_autofill_and_taste() {
    let api = api();
    let (s, v) = post(
        &api,
        "/coldstart",
        r#"{"genres": ["folk", "metal"], "k": 4}"#,
    );
    assert_eq!(s, 200, "{v}");
    let got = ids(&v["items"]);
    assert_eq!(got.len(), 4);
    let folk = got
        .iter()
        .filter(|i| ["a0", "a1", "a2"].contains(i))
        .count();
    assert_eq!(folk, 2, "both genres are represented: {got:?}");
    let (s, v) = post(&api, "/coldstart", r#"{"genres": ["polka"]}"#);
    assert_eq!(s, 400);
    assert!(error(&v).contains("polka"));

    let (s, v) = post(
        &api,
        "/autofill",
        r#"{"seeds": ["a0"], "k": 3, "exclude": ["a1"]}"#,
    );
    assert_eq!(s, 200, "{v}");
    let got = ids(&v["items"]);
    assert!(!got.contains(&"a0") && !got.contains(&"a1"), "{got:?}");
    assert_eq!(post(&api, "/autofill", r#"{"seeds": []}"#).0, 400);

    let (s, v) = post(
        &api,
        "/taste/summary",
        r#"{"history": [{"item": "a0"}, {"item": "a1"}]}"#,
    );
    assert_eq!(s, 200, "{v}");
    let labels = v["labels"].as_array().unwrap();
    assert_eq!(labels[0]["label"], "folk");
    let total: f64 = labels.iter().map(|l| l["share"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-4, "{total}");
}

#[test]
fn healthz_reports_the_bundle_and_a_corrupt_bundle_is_refused() {
    let api = api();
    let (s, v) = decode(api.healthz(false, None));
    assert_eq!(s, 200);
    assert_eq!(v["items"], 6);
    assert_eq!(v["formatVersion"], json!(timbral_core::FORMAT_VERSION));
    assert_eq!(v["semanticSearch"], false);

    let mut bytes = timbral_core::fixture::two_styles();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let err = Api::from_bytes(&bytes).err().expect("refused");
    assert!(err.contains("checksum"), "{err}");
}

/// `/session` runs the session protocol statelessly: the profile goes in
/// and comes back, the replies are the CLI's, a bad command answers an
/// error in its place and the rest run.
#[test]
fn session_carries_the_profile_in_and_out() {
    let api = Api::from_bytes(&timbral_core::fixture::many_styles().to_bytes()).unwrap();
    let (status, v) = post(
        &api,
        "/session",
        r#"{"commands":[{"op":"recommend","k":3},{"op":"feedback","item":"s0","kind":"like"},{"op":"dance"},{"op":"feedback","item":"s2","kind":"like"}]}"#,
    );
    assert_eq!(status, 200, "{v}");
    let replies = v["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 4);
    assert_eq!(replies[0]["stage"], "cold_start");
    assert_eq!(replies[0]["items"].as_array().unwrap().len(), 3);
    assert_eq!(replies[1]["ok"], true);
    assert_eq!(replies[2]["ok"], false);
    assert!(
        error(&replies[2]).contains("unknown variant `dance`"),
        "{}",
        replies[2]
    );
    assert_eq!(replies[3]["stage"], "fallback");
    // The profile comes back and carries the tastes into the next call.
    let profile = v["profile"].as_str().unwrap();
    let body = json!({"profile": profile, "commands": [{"op": "profile"}]}).to_string();
    let (status, v) = post(&api, "/session", &body);
    assert_eq!(status, 200, "{v}");
    let tastes = v["replies"][0]["tastes"].as_array().unwrap();
    assert_eq!(tastes.len(), 1);
    assert_eq!(tastes[0]["liked"], 2);
    assert_eq!(tastes[0]["cluster"], "metal");
    // A damaged profile or too many commands: 400, naming it.
    let (status, v) = post(&api, "/session", r#"{"profile":"AAAA","commands":[]}"#);
    assert_eq!(status, 400);
    assert!(error(&v).contains("not a saved Timbral profile"), "{v}");
    let many = json!({"commands": vec![json!({"op": "profile"}); 101]}).to_string();
    let (status, v) = post(&api, "/session", &many);
    assert_eq!(status, 400);
    assert!(error(&v).contains("at most 100"), "{v}");
}

#[test]
fn known_users_get_their_top_k_similar_users_and_explanations() {
    let api = api();
    for (path, want) in [
        ("/rec/users/u0", Route::UserRecs("u0".into())),
        (
            "/rec/users/u%201/similar",
            Route::SimilarUsers("u 1".into()),
        ),
        ("/explain/u0/a4", Route::Explain("u0".into(), "a4".into())),
    ] {
        assert_eq!(route("GET", path).unwrap(), want);
    }
    assert_eq!(route("POST", "/rec/users/u0").unwrap_err().status, 405);
    assert_eq!(route("GET", "/rec/users/").unwrap_err().status, 404);
    assert_eq!(route("GET", "/explain/u0").unwrap_err().status, 404);

    // Computed, as `timbral precompute` ranks them, none of the user's own.
    let (status, v) = get(&api, "/rec/users/u0?k=3");
    assert_eq!(
        (status, v["source"].as_str()),
        (200, Some("computed")),
        "{v}"
    );
    let m = api.model();
    let u = m.user_index("u0").unwrap();
    let want: Vec<&str> = m
        .recommend_known_user(u, 3)
        .iter()
        .map(|r| m.item_id(r.index))
        .collect();
    assert_eq!(ids(&v["items"]), want);
    let played = m.user_history(u).0;
    assert!(want
        .iter()
        .all(|id| !played.contains(&m.item_index(id).unwrap())));

    // Precomputed: served as the store gave it, cut to k, with names.
    let r = api
        .user_recs(
            "u0",
            "k=1",
            Some(timbral_api::Precomputed {
                source: "redis",
                version: Some(7),
                items: vec![("a5".into(), 0.9), ("a4".into(), 0.8)],
            }),
        )
        .unwrap();
    let (_, v) = decode(r);
    assert_eq!(
        (v["source"].as_str(), v["version"].as_u64()),
        (Some("redis"), Some(7))
    );
    assert_eq!(
        v["items"],
        json!([{ "item": "a5", "name": "Artist 5", "score": 0.9f32 }])
    );

    // From Workers KV: a list as precompute writes it, for a user the
    // bundle need not know (the edge's bundle is a client one).
    let kv =
        timbral_api::Precomputed::parse("kv", "timbral:user:x", r#"[{"item":"a4","score":0.5}]"#)
            .unwrap();
    let (_, v) = decode(api.user_recs("not-in-the-bundle", "", Some(kv)).unwrap());
    assert_eq!(
        (v["source"].as_str(), v["version"].is_null()),
        (Some("kv"), true)
    );
    assert_eq!(ids(&v["items"]), ["a4"]);
    let bad = timbral_api::Precomputed::parse("kv", "timbral:user:x", "[1]").unwrap_err();
    assert_eq!(bad.status, 500);
    assert!(bad.body.contains("timbral:user:x"), "{}", bad.body);

    // u0 leans folk (1, 0): u1 (1, 0.2) is nearest, then the metal pair.
    let (status, v) = get(&api, "/rec/users/u0/similar?k=2");
    assert_eq!(status, 200);
    let users: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["u1", "u3"], "{v}");

    let (status, v) = get(&api, "/explain/u0/a4");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["explanation"]["item"], "a4", "{v}");
    assert!(v["played"].is_boolean());

    for (path, needle) in [
        ("/rec/users/nobody", "nobody"),
        ("/rec/users/u0/similar?k=0", "k"),
        ("/explain/u0/nothing", "nothing"),
        ("/rec/users/u0?n=3", "`n`"),
    ] {
        let (status, v) = get(&api, path);
        assert!(status == 404 || status == 400, "{path}: {status}");
        assert!(error(&v).contains(needle), "{path}: {v}");
    }
}

/// The stateful routes over a store, as the Worker's Durable Object runs
/// them: the listener comes from the token alone, their profile is read,
/// served and written back.
struct Store {
    profiles: std::collections::HashMap<String, String>,
}

const SECRET: &[u8] = b"a test secret of at least 32 bytes!!";

impl Store {
    fn call(
        &mut self,
        api: &Api,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        use timbral_api::auth;
        let r = route(method, path).unwrap();
        assert!(r.is_stateful(body.as_bytes()), "{method} {path} {body}");
        let header = token.map(|t| format!("Bearer {t}"));
        let claims = match auth::verify(header.as_deref(), SECRET, 1_000) {
            Ok(c) => c,
            Err(reply) => return decode(reply),
        };
        let stored = self.profiles.get(&claims.sub).cloned();
        let out = api.stateful(&r, body.as_bytes(), stored.as_deref());
        if let Some(p) = out.profile {
            self.profiles.insert(claims.sub, p);
        }
        decode(out.reply)
    }
}

fn token(sub: &str, exp: u64) -> String {
    timbral_api::auth::sign(
        SECRET,
        &timbral_api::auth::Claims {
            sub: sub.into(),
            exp,
        },
    )
}

#[test]
fn a_listeners_feedback_profile_and_recs_live_in_their_stored_profile() {
    let api = api();
    let mut store = Store {
        profiles: Default::default(),
    };
    let ana = token("ana", 2_000);
    let (s, v) = store.call(&api, "GET", "/profile", Some(&ana), "");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["interactions"], 0);
    assert!(store.profiles.is_empty(), "reading writes nothing");

    for item in ["a0", "a1"] {
        let (s, v) = store.call(
            &api,
            "POST",
            "/feedback",
            Some(&ana),
            &format!(r#"{{"item":"{item}","kind":"like"}}"#),
        );
        assert_eq!((s, &v["ok"]), (200, &json!(true)), "{v}");
    }
    let (s, v) = store.call(&api, "GET", "/profile", Some(&ana), "");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["interactions"], 2, "{v}");
    let liked: u64 = v["tastes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["liked"].as_u64().unwrap())
        .sum();
    assert_eq!(liked, 2, "{v}");

    let (s, v) = store.call(&api, "POST", "/recs", Some(&ana), r#"{"k":3}"#);
    assert_eq!(s, 200, "{v}");
    let got = ids(&v["items"]);
    assert!(
        !got.is_empty() && !got.contains(&"a0") && !got.contains(&"a1"),
        "{v}"
    );
    assert!(v["stage"].is_string(), "{v}");

    // Another listener sees none of it, and no token names ana but hers.
    let bob = token("bob", 2_000);
    let (_, v) = store.call(&api, "GET", "/profile", Some(&bob), "");
    assert_eq!(v["interactions"], 0, "{v}");
    let (s, _) = store.call(&api, "GET", "/profile", None, "");
    assert_eq!(s, 401);
    let (s, _) = store.call(
        &api,
        "POST",
        "/feedback",
        Some(&token("ana", 999)),
        r#"{"item":"a2","kind":"like"}"#,
    );
    assert_eq!(s, 401, "expired");
    let (_, v) = store.call(&api, "GET", "/profile", Some(&ana), "");
    assert_eq!(
        v["interactions"], 2,
        "the expired token changed nothing: {v}"
    );
}

#[test]
fn bad_stateful_requests_name_the_problem_and_change_nothing() {
    let api = api();
    let mut store = Store {
        profiles: Default::default(),
    };
    let ana = token("ana", 2_000);
    for (body, why) in [
        (r#"{"item":"zz9","kind":"like"}"#, "zz9"),
        (r#"{"item":"a0","kind":"love"}"#, "love"),
        (r#"{"item":"a0"}"#, "kind"),
        (r#"{"item":"a0","kind":"like","x":1}"#, "unknown field `x`"),
    ] {
        let (s, v) = store.call(&api, "POST", "/feedback", Some(&ana), body);
        assert!(s == 400 || s == 404, "{body}: {s} {v}");
        assert!(error(&v).contains(why), "{body}: {v}");
    }
    assert!(store.profiles.is_empty());
    let (s, v) = store.call(&api, "POST", "/recs", Some(&ana), r#"{"k":0}"#);
    assert_eq!(s, 400, "{v}");
    let (s, v) = store.call(&api, "POST", "/recs", Some(&ana), r#"{"exclude":[]}"#);
    assert_eq!(s, 400, "{v}");

    // A corrupt stored profile is refused and left as it is.
    store.profiles.insert("ana".into(), "AAAA".into());
    let (s, v) = store.call(
        &api,
        "POST",
        "/feedback",
        Some(&ana),
        r#"{"item":"a0","kind":"like"}"#,
    );
    assert_eq!(s, 500, "{v}");
    assert!(error(&v).contains("stored profile"), "{v}");
    assert_eq!(store.profiles["ana"], "AAAA");

    // Without a store (the native server), the routes say what they need.
    let r = route("POST", "/feedback").unwrap();
    let (s, v) = decode(api.handle(&r, "", br#"{"item":"a0","kind":"like"}"#));
    assert_eq!(s, 501, "{v}");
    assert!(error(&v).contains("token"), "{v}");
    // A /recs with a history is the stateless route, token or not.
    assert!(!route("POST", "/recs")
        .unwrap()
        .is_stateful(br#"{"history":[]}"#));
}
