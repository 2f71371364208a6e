//! The tastes on a catalogue of four styles (`fixture::many_styles`): songs
//! `s0..s29` metal, `s30..s59` j-pop, `s60..s89` latin, `s90..s119`
//! ambient (kept out of pools); within a style, even and odd songs are two
//! sub-styles; three songs per artist; popularity falls within each style.

use super::*;
use crate::fixture::{many_styles, PER_STYLE};
use crate::model::Model;

fn style(i: u32) -> usize {
    i as usize / PER_STYLE
}

fn id(i: u32) -> String {
    format!("s{i}")
}

fn like(m: &Model, p: &mut Profile, items: &[u32]) {
    for &i in items {
        p.feedback(m, i, Feedback::Like).unwrap();
    }
}

fn taste_styles(m: &Model, p: &Profile) -> Vec<Vec<usize>> {
    p.tastes
        .iter()
        .map(|t| {
            let mut s: Vec<usize> = t
                .liked
                .iter()
                .map(|x| style(m.item_index(x).unwrap()))
                .collect();
            s.dedup();
            s
        })
        .collect()
}

#[test]
fn likes_join_the_nearest_taste_or_start_one_and_tastes_never_merge() {
    let m = many_styles();
    let mut p = Profile::default();
    // Metal, j-pop, latin, interleaved: three tastes, one style each.
    like(&m, &mut p, &[0, 30, 60, 2, 32, 62, 4, 1, 35, 61, 3]);
    assert_eq!(taste_styles(&m, &p), vec![vec![0], vec![1], vec![2]]);
    assert_eq!(p.tastes.iter().map(|t| t.id).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(p.tastes[0].cluster.as_deref(), Some("metal"));
    assert_eq!(p.likes(), 11);
    // A like of a liked item changes nothing; more likes keep three tastes.
    like(&m, &mut p, &[0, 6, 8, 36, 64]);
    assert_eq!(taste_styles(&m, &p), vec![vec![0], vec![1], vec![2]]);
    // A full set of tastes: a like that fits none joins the nearest.
    let mut full = Profile::default();
    like(&m, &mut full, &[0, 30, 60]);
    for t in &mut full.tastes {
        t.id += 10;
    }
    let before = full.tastes.len();
    let mut capped = full.clone();
    while capped.tastes.len() < STAGES.max_tastes {
        let n = capped.tastes.len() as u32;
        capped.tastes.push(Taste {
            id: 100 + n,
            liked: vec![id(60 + n)],
            ..Taste::default()
        });
    }
    capped.feedback(&m, 90, Feedback::Like).unwrap();
    assert_eq!(capped.tastes.len(), STAGES.max_tastes);
    assert!(before < STAGES.max_tastes);
}

#[test]
fn a_probes_like_starts_a_taste_where_an_unknown_like_would_join() {
    let m = many_styles();
    // A taste with no seed cluster (as a v1 profile's likes become), of
    // j-pop: an unknown like of more j-pop joins it, a probe's starts its
    // own (a probe asked whether there is a taste there).
    let mut p = Profile::default();
    p.tastes.push(Taste {
        id: 0,
        liked: vec![id(30), id(32)],
        ..Taste::default()
    });
    let mut unknown = p.clone();
    unknown.feedback(&m, 34, Feedback::Like).unwrap();
    assert_eq!(unknown.tastes.len(), 1);
    assert!(unknown.tastes[0].liked.contains(&id(34)));
    let mut probed = p.clone();
    probed
        .feedback_from(&m, 34, Feedback::Like, Shown::Probe)
        .unwrap();
    assert_eq!(probed.tastes.len(), 2);
    assert_eq!(probed.tastes[1].liked, vec![id(34)]);
    assert_eq!(probed.tastes[1].cluster.as_deref(), Some("j-pop"));
    // What the staged recommender shows says what showed it.
    let pick = |taste, explore| Pick {
        index: 0,
        score: 0.0,
        taste,
        stage: Stage::Ranking,
        explore,
    };
    assert_eq!(pick(Some(3), true).shown(), Shown::ByTaste(3));
    assert_eq!(pick(None, true).shown(), Shown::Probe);
    assert_eq!(pick(None, false).shown(), Shown::Unknown);
}

#[test]
fn with_the_tastes_full_a_failed_taste_makes_room_and_nothing_merges() {
    let m = many_styles();
    let mut p = Profile::default();
    // Metal liked; then a stray j-pop like, and ten j-pop songs turned down.
    like(&m, &mut p, &[0, 2, 4]);
    like(&m, &mut p, &[30]);
    for i in 41..51 {
        p.feedback_from(&m, i, Feedback::Dislike, Shown::ByTaste(1))
            .unwrap();
    }
    assert!(p.tastes[1].confidence(&STAGES) < STAGES.weak_confidence);
    // Fill the rest with tastes nowhere near latin.
    while p.tastes.len() < STAGES.max_tastes {
        let n = p.tastes.len() as u32;
        p.tastes.push(Taste {
            id: 10 + n,
            cluster: Some("metal".into()),
            liked: vec![id(2 * n + 10)],
            ..Taste::default()
        });
    }
    let metal = p.tastes[0].clone();
    p.feedback(&m, 60, Feedback::Like).unwrap();
    assert_eq!(p.tastes.len(), STAGES.max_tastes);
    assert!(p.tastes.iter().all(|t| t.id != 1), "the failed taste went");
    let latin = p.tastes.last().unwrap();
    assert_eq!(latin.liked, vec![id(60)]);
    assert_eq!(p.tastes[0], metal, "no other taste took the like");
    // Its dislikes stay: none of them is shown again.
    let (_, picks) = m.recommend_staged(&mut p.clone(), &[], 30).unwrap();
    assert!(picks.iter().all(|x| !(41..51).contains(&x.index)));
}

#[test]
fn ranking_probes_more_while_some_cluster_is_unprobed() {
    let m = many_styles();
    let mut p = Profile::default();
    like(&m, &mut p, &[0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    assert_eq!(m.stage_of(&p), Stage::Ranking);
    let probes = |p: &Profile| -> Vec<usize> {
        let (_, picks) = m.recommend_staged(&mut p.clone(), &[], 10).unwrap();
        picks
            .iter()
            .filter(|x| x.explore)
            .map(|x| style(x.index))
            .collect()
    };
    // J-pop and latin never rated: the larger share, all of it probing
    // (the one taste is served already), neither of them left out.
    let unprobed = probes(&p);
    assert_eq!(
        unprobed.len(),
        (10.0 * STAGES.explore_unprobed).round() as usize
    );
    assert!(
        unprobed.contains(&1) && unprobed.contains(&2),
        "{unprobed:?}"
    );
    // J-pop disliked, latin skipped once: one skip says "not this one",
    // so latin is still open, and probed first.
    p.feedback(&m, 31, Feedback::Dislike).unwrap();
    p.feedback(&m, 61, Feedback::Skip).unwrap();
    const { assert!(STAGES.skip_weight < STAGES.probed_after) };
    let open = probes(&p);
    assert_eq!(
        open.len(),
        (10.0 * STAGES.explore_unprobed).round() as usize
    );
    let (_, picks) = m.recommend_staged(&mut p.clone(), &[], 10).unwrap();
    let first = picks.iter().find(|x| x.explore).unwrap();
    assert_eq!(style(first.index), 2, "{picks:?}");
    // Latin skipped again: both tried, back to the small share.
    p.feedback(&m, 63, Feedback::Skip).unwrap();
    let tried = probes(&p);
    assert_eq!(tried.len(), (10.0 * STAGES.explore).round() as usize);
}

#[test]
fn a_cluster_too_small_to_hold_a_taste_is_probed_after_one_turned_down_once() {
    let m = many_styles();
    let mut p = Profile::default();
    like(&m, &mut p, &[0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    // J-pop skipped once (still open, but turned down a little); latin
    // never rated.
    p.feedback(&m, 31, Feedback::Skip).unwrap();
    let k = 6;
    let first_probe = |exclude: &[u32]| -> usize {
        let (stage, picks) = m.recommend_staged(&mut p.clone(), exclude, k).unwrap();
        assert_eq!(stage, Stage::Ranking);
        style(picks.iter().find(|x| x.explore).unwrap().index)
    };
    // Latin has all its songs left: untried, so probed first.
    assert!(PER_STYLE >= STAGES.probe_min_lists * k);
    assert_eq!(first_probe(&[]), 2);
    // With latin down to fewer songs than `probe_min_lists` lists' worth,
    // the genre turned down once gets its second probe first.
    let gone: Vec<u32> = (60..60 + PER_STYLE as u32 - 18).collect();
    assert!(18 < STAGES.probe_min_lists * k);
    assert_eq!(first_probe(&gone), 1);
}

#[test]
fn a_liked_cluster_whose_taste_failed_is_probed_again_before_a_disliked_one() {
    let m = many_styles();
    let mut p = Profile::default();
    like(&m, &mut p, &[0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    // One j-pop like, then three j-pop songs of the wrong corner skipped:
    // the taste has failed and takes no more slots …
    like(&m, &mut p, &[30]);
    let jpop = p.tastes[1].id;
    for i in [33, 35, 37] {
        p.feedback_from(&m, i, Feedback::Skip, Shown::ByTaste(jpop))
            .unwrap();
    }
    let failed = &p.tastes[1];
    assert!(failed.interactions() >= STAGES.weak_tries);
    assert!(failed.confidence(&STAGES) < STAGES.weak_confidence);
    // … while latin was turned down once. J-pop has been rated more, but
    // it holds a like: it is the likelier home of a taste still to find.
    p.feedback(&m, 61, Feedback::Dislike).unwrap();
    let (stage, picks) = m.recommend_staged(&mut p.clone(), &[], 10).unwrap();
    assert_eq!(stage, Stage::Ranking);
    let probes: Vec<usize> = picks
        .iter()
        .filter(|x| x.explore)
        .map(|x| style(x.index))
        .collect();
    assert_eq!(probes.first(), Some(&1), "{picks:?}");
    // Without the like, the skips count against j-pop: latin comes first.
    let mut q = p.clone();
    q.feedback(&m, 30, Feedback::Dislike).unwrap();
    let (_, picks) = m.recommend_staged(&mut q, &[], 10).unwrap();
    let first = picks.iter().find(|x| x.explore).unwrap();
    assert_eq!(style(first.index), 2, "{picks:?}");
}

#[test]
fn a_tastes_audio_weights_grow_on_what_parts_its_likes_from_its_dislikes() {
    use super::space::{Space, AUDIO_WEIGHTS};
    use super::staged::TasteView;
    let m = many_styles();
    let space = Space::new(&m);
    let mut p = Profile::default();
    like(&m, &mut p, &[0, 2]);
    let plain = TasteView::of(&space, &p, 0, &STAGES);
    assert_eq!(plain.audio_weights, AUDIO_WEIGHTS, "no negatives yet");
    // Metal's dislikes are j-pop songs: quieter (energy by style).
    for i in [31, 33] {
        p.feedback_from(&m, i, Feedback::Dislike, Shown::ByTaste(0))
            .unwrap();
    }
    let taught = TasteView::of(&space, &p, 0, &STAGES);
    let e = crate::facts::ENERGY;
    assert!(
        taught.audio_weights[e] > AUDIO_WEIGHTS[e] + 0.5,
        "{:?}",
        taught.audio_weights
    );
    let prior: f32 = AUDIO_WEIGHTS.iter().sum();
    let total: f32 = taught.audio_weights.iter().sum();
    assert!((total - 2.0 * prior).abs() < 1e-5, "{total}");
}

#[test]
fn a_dislike_pushes_its_taste_away_and_penalises_its_neighbours() {
    let m = many_styles();
    let mut p = Profile::default();
    like(&m, &mut p, &[0, 1, 2, 3, 4, 5]);
    for i in 40..45 {
        p.feedback(&m, i, Feedback::Skip).unwrap();
    }
    assert_eq!(
        m.stage_of(&p),
        Stage::Ranking,
        "{} interactions",
        p.interactions
    );
    // Long enough that the taste's share (half the list goes to probing
    // while a cluster is unprobed) reaches the odd sub-style.
    let (_, before) = m.recommend_staged(&mut p.clone(), &[], 30).unwrap();
    let rank = |list: &[Pick], i: u32| list.iter().position(|x| x.index == i);
    // Dislike the odd sub-style's best song: its taste is pushed away and
    // its near neighbours (the other odd metal songs) fall, even ones not.
    p.feedback_from(&m, 7, Feedback::Dislike, Shown::ByTaste(0))
        .unwrap();
    assert_eq!(p.tastes[0].disliked, vec![id(7)]);
    let (_, after) = m.recommend_staged(&mut p.clone(), &[], 30).unwrap();
    assert!(rank(&after, 7).is_none(), "a disliked item is never shown");
    let odd_before: Vec<usize> = [9, 11, 13]
        .iter()
        .filter_map(|&i| rank(&before, i))
        .collect();
    assert!(!odd_before.is_empty(), "{before:?}");
    let odd_after: Vec<usize> = [9, 11, 13]
        .iter()
        .filter_map(|&i| rank(&after, i))
        .collect();
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f32 / v.len().max(1) as f32;
    assert!(
        odd_after.len() < odd_before.len() || mean(&odd_after) > mean(&odd_before),
        "odd metal songs before {odd_before:?}, after {odd_after:?}"
    );
}

#[test]
fn cold_start_is_popular_diverse_and_leaves_out_excluded_genres() {
    let m = many_styles();
    let p = Profile::default();
    let (stage, picks) = m.recommend_staged(&mut p.clone(), &[], 9).unwrap();
    assert_eq!(stage, Stage::ColdStart);
    let styles: Vec<usize> = picks.iter().map(|x| style(x.index)).collect();
    // Round-robin over the three pooled clusters, ambient never.
    assert_eq!(&styles[..3], &[0, 1, 2], "{styles:?}");
    assert!(!styles.contains(&3), "{styles:?}");
    // One song per artist (three songs each), the most popular first.
    assert_eq!(picks[0].index, 0);
    let mut artists: Vec<u32> = picks.iter().map(|x| x.index / 3).collect();
    artists.sort();
    artists.dedup();
    assert_eq!(artists.len(), picks.len());
    assert!(picks
        .iter()
        .all(|x| x.taste.is_none() && x.stage == Stage::ColdStart));
    // Named genres: only those.
    let latin = m.cold_start_staged(&p, &["latin".into()], 5).unwrap();
    assert!(latin.iter().all(|x| style(x.index) == 2), "{latin:?}");
    assert!(m.cold_start_staged(&p, &["polka".into()], 5).is_err());
}

#[test]
fn cold_start_tries_the_clusters_not_yet_rated_first() {
    let m = many_styles();
    let mut p = Profile::default();
    let (_, first) = m.recommend_staged(&mut p, &[], 2).unwrap();
    let styles: Vec<usize> = first.iter().map(|x| style(x.index)).collect();
    assert_eq!(styles, [0, 1]);
    // Metal skipped, j-pop disliked: still cold, and the next round opens
    // with latin, never rated; then metal, since a skip is weaker evidence
    // against its genre than a dislike.
    p.feedback(&m, first[0].index, Feedback::Skip).unwrap();
    p.feedback(&m, first[1].index, Feedback::Dislike).unwrap();
    let (stage, next) = m.recommend_staged(&mut p, &[], 2).unwrap();
    assert_eq!(stage, Stage::ColdStart);
    let styles: Vec<usize> = next.iter().map(|x| style(x.index)).collect();
    assert_eq!(styles, [2, 0], "{next:?}");
    assert!(next
        .iter()
        .all(|x| !first.iter().any(|f| f.index == x.index)));
}

#[test]
fn fallback_takes_most_picks_from_strong_tastes_and_explores_the_rest() {
    let m = many_styles();
    let mut p = Profile::default();
    like(&m, &mut p, &[0, 2, 4, 6]);
    assert_eq!(m.stage_of(&p), Stage::Fallback);
    let (stage, picks) = m.recommend_staged(&mut p, &[], 10).unwrap();
    assert_eq!(stage, Stage::Fallback);
    let from_taste = picks.iter().filter(|x| x.taste == Some(0)).count();
    assert_eq!(from_taste, 8, "{picks:?}");
    assert!(picks
        .iter()
        .filter(|x| x.taste == Some(0))
        .all(|x| style(x.index) == 0));
    let explored: Vec<usize> = picks
        .iter()
        .filter(|x| x.explore)
        .map(|x| style(x.index))
        .collect();
    assert_eq!(explored.len(), 2);
    assert!(explored.iter().all(|&s| s == 1 || s == 2), "{explored:?}");
    // Less popular than cold start would pick: not simply the top songs.
    let metal: Vec<u32> = picks
        .iter()
        .filter(|x| x.taste == Some(0))
        .map(|x| x.index)
        .collect();
    assert!(metal.iter().any(|&i| i > 12), "{metal:?}");
}

#[test]
fn ranking_splits_the_list_over_the_tastes_each_in_its_style() {
    let m = many_styles();
    let mut p = Profile::default();
    like(&m, &mut p, &[0, 30, 60, 2, 32, 62, 4, 34, 64, 6, 36, 66]);
    assert_eq!(m.stage_of(&p), Stage::Ranking);
    let (stage, picks) = m.recommend_staged(&mut p, &[], 12).unwrap();
    assert_eq!(stage, Stage::Ranking);
    for t in 0..3u32 {
        let mine: Vec<&Pick> = picks.iter().filter(|x| x.taste == Some(t)).collect();
        assert!(mine.len() >= 3, "taste {t}: {picks:?}");
        assert!(
            mine.iter().all(|x| style(x.index) == t as usize),
            "{mine:?}"
        );
        assert!(mine.iter().all(|x| x.stage == Stage::Ranking));
    }
    // The head of the list mixes the tastes.
    let head: Vec<Option<u32>> = picks[..3].iter().map(|x| x.taste).collect();
    assert_eq!(head, [Some(0), Some(1), Some(2)]);
}

#[test]
fn a_taste_with_enough_feedback_gets_a_model_that_ranks_its_picks() {
    let m = many_styles();
    let mut p = Profile::default();
    // Likes the even metal songs, dislikes the odd ones.
    for i in 0..10u32 {
        p.feedback(&m, 2 * i, Feedback::Like).unwrap();
        p.feedback_from(&m, 2 * i + 1, Feedback::Dislike, Shown::ByTaste(0))
            .unwrap();
    }
    // Five even metal songs are left to find.
    let (stage, picks) = m.recommend_staged(&mut p, &[], 4).unwrap();
    assert_eq!(stage, Stage::ModelBased);
    let trained = p.tastes[0].model.as_ref().expect("a model");
    assert!(trained.auc >= 0.5 && trained.samples >= 40, "{trained:?}");
    let mine: Vec<&Pick> = picks.iter().filter(|x| x.taste == Some(0)).collect();
    assert!(
        mine.iter().all(|x| x.stage == Stage::ModelBased),
        "{mine:?}"
    );
    assert!(
        mine.iter().all(|x| style(x.index) == 0 && x.index % 2 == 0),
        "{mine:?}"
    );
    // Retrained only when due.
    assert_eq!(m.refresh_taste_models(&mut p), 0);
    for i in 20..25 {
        p.feedback(&m, i, Feedback::Like).unwrap();
    }
    assert_eq!(m.refresh_taste_models(&mut p), 1);
}

#[test]
fn profiles_round_trip_with_tastes_and_models_and_v1_still_loads() {
    let m = many_styles();
    let mut p = Profile::default();
    p.add(&m, 50, 12.0).unwrap();
    for i in 0..8u32 {
        p.feedback(&m, 2 * i, Feedback::Like).unwrap();
        p.feedback(&m, 2 * i + 1, Feedback::Dislike).unwrap();
    }
    p.feedback(&m, 70, Feedback::Like).unwrap();
    p.feedback(&m, 33, Feedback::Skip).unwrap();
    m.refresh_taste_models(&mut p);
    assert!(p.tastes[0].model.is_some());
    let bytes = p.to_bytes();
    let back = Profile::from_bytes(&bytes).unwrap();
    assert_eq!(back, p);
    let (s1, a) = m.recommend_staged(&mut p.clone(), &[], 10).unwrap();
    let (s2, b) = m.recommend_staged(&mut back.clone(), &[], 10).unwrap();
    assert_eq!((s1, a), (s2, b), "a loaded profile recommends the same");
    // Version 1: the history, no tastes.
    let v1 = Profile::from_bytes(&p.to_bytes_v1()).unwrap();
    assert_eq!(v1.items, p.items);
    assert_eq!(
        (v1.disliked, v1.skipped),
        (p.disliked.clone(), p.skipped.clone())
    );
    assert!(v1.tastes.is_empty());
    // Newer, damaged, or with a model that could loop: refused.
    let mut newer = bytes.clone();
    newer[8] = 3;
    assert!(Profile::from_bytes(&newer)
        .unwrap_err()
        .to_string()
        .contains("version 3"));
    assert!(Profile::from_bytes(&bytes[..bytes.len() - 3]).is_err());
    let mut twins = p.clone();
    twins.tastes[1].id = twins.tastes[0].id;
    assert!(Profile::from_bytes(&twins.to_bytes())
        .unwrap_err()
        .to_string()
        .contains("share an id"));
}

#[test]
fn bad_session_commands_are_named_and_change_nothing() {
    let m = many_styles();
    let mut s = Session::default();
    let run = |s: &mut Session, line: &str| -> Result<String, String> {
        let cmd = Session::parse(line).map_err(|e| e.to_string())?;
        s.handle(&m, cmd)
            .map(|r| serde_json::to_string(&r).unwrap())
            .map_err(|e| e.to_string())
    };
    let cases = [
        (r#"{"op":"dance"}"#, "unknown variant `dance`"),
        (r#"{"k":10}"#, "missing field `op`"),
        (r#"{"op":"feedback","item":"s1"}"#, "missing field `kind`"),
        (
            r#"{"op":"feedback","item":"s1","kind":"love"}"#,
            "unknown variant `love`",
        ),
        (
            r#"{"op":"feedback","item":"nope","kind":"like"}"#,
            "unknown item `nope`",
        ),
        (r#"{"op":"recommend","k":0}"#, "k must be between 1 and 200"),
        (r#"{"op":"recommend","n":3}"#, "unknown field `n`"),
        (r#"{"op":"load","profile":"%%%"}"#, "not base64"),
        (
            r#"{"op":"load","profile":"AAAA"}"#,
            "not a saved Timbral profile",
        ),
        ("not json", "bad command"),
    ];
    run(&mut s, r#"{"op":"feedback","item":"s0","kind":"like"}"#).unwrap();
    let before = s.profile.clone();
    for (line, want) in cases {
        let e = run(&mut s, line).unwrap_err();
        assert!(e.contains(want), "{line}: {e}");
        assert_eq!(s.profile, before, "{line} changed the session");
    }
    // And the session goes on.
    let r = run(&mut s, r#"{"op":"recommend","k":3}"#).unwrap();
    assert!(r.contains(r#""stage":"fallback""#), "{r}");
    let saved = run(&mut s, r#"{"op":"save"}"#).unwrap();
    let b64: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let mut other = Session::default();
    let line = format!(
        r#"{{"op":"load","profile":"{}"}}"#,
        b64["profile"].as_str().unwrap()
    );
    run(&mut other, &line).unwrap();
    assert_eq!(other.profile, s.profile);
    let report = run(&mut other, r#"{"op":"profile"}"#).unwrap();
    assert!(report.contains(r#""cluster":"metal""#), "{report}");
}

#[test]
fn the_same_feedback_gives_the_same_profile_bytes() {
    let m = many_styles();
    let go = || {
        let mut s = Session::default();
        for round in 0..6 {
            let cmd = Session::parse(r#"{"op":"recommend","k":6}"#).unwrap();
            let Reply::Items { items, .. } = s.handle(&m, cmd).unwrap() else {
                panic!("items")
            };
            let ids: Vec<String> = items.iter().map(|x| x.item.to_string()).collect();
            for (j, item) in ids.iter().enumerate() {
                let kind = if (j + round) % 3 == 0 {
                    "dislike"
                } else {
                    "like"
                };
                let line = format!(r#"{{"op":"feedback","item":"{item}","kind":"{kind}"}}"#);
                s.handle(&m, Session::parse(&line).unwrap()).unwrap();
            }
        }
        s.profile.to_bytes()
    };
    assert_eq!(go(), go());
}
