// The demo app: onboarding → "For you" with a why on each item → feedback
// changes the list live → search (words at once, semantic when the encoder
// is ready) → similar → playlist autofill → your tastes. The profile is
// saved in localStorage after every change, so it survives reloads.
//
// Two catalogues where the build has both: artists (fused CF + content
// recommendations) and songs (the staged, multi-taste recommender of the
// session protocol: cold start → exploring → ranking → per-taste models).

import { Timbral } from "./pkg/index.js";

const params = new URLSearchParams(location.search);
let catalogue = params.get("catalogue") ?? localStorage.getItem("timbral.catalogue") ?? "artists";
const songsMode = () => catalogue === "songs";
const profileKey = () => (songsMode() ? "timbral.profile.songs" : "timbral.profile.v1");
const noun = () => (songsMode() ? "songs" : "artists");
const $ = (id) => document.getElementById(id);
const status = (text) => ($("status").textContent = text);

const toB64 = (bytes) => btoa(String.fromCharCode(...bytes));
const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

let t;
const picked = { genres: new Set(), artists: new Set() };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function save() {
  localStorage.setItem(profileKey(), toB64(t.saveProfile()));
}

function showError(where, e) {
  console.error(e);
  status(`${where}: ${e.message ?? e}`);
}

// ---- onboarding -------------------------------------------------------------

function renderOnboarding() {
  $("app").hidden = true;
  $("search").hidden = true;
  $("onboarding").hidden = false;
  const genres = $("genres");
  genres.replaceChildren(
    ...t.topGenres(18).map((g) =>
      el("button", {
        class: "chip",
        dataset: { genre: g },
        "aria-pressed": "false",
        onclick: (ev) => {
          const on = !picked.genres.has(g);
          on ? picked.genres.add(g) : picked.genres.delete(g);
          ev.currentTarget.setAttribute("aria-pressed", String(on));
          renderArtists();
        },
      }, g),
    ),
  );
  renderArtists();
}

// Onboarding picks: artists by the fused cold start; songs by the staged
// recommender's cold start (popular, one per artist, round the clusters).
function onboardingPicks() {
  if (!songsMode()) return t.coldStart({ genres: [...picked.genres], seedItems: [...picked.artists], k: 18 });
  const r = t.session({ op: "coldstart", genres: [...picked.genres], k: 18 });
  if (r.ok === false) throw new Error(r.error);
  return r.items;
}

function renderArtists() {
  let list;
  try {
    list = onboardingPicks();
  } catch (e) {
    return showError("onboarding", e);
  }
  const keep = [...picked.artists].filter((id) => !list.some((a) => a.item === id));
  $("artists-title").hidden = false;
  $("artists").replaceChildren(
    ...keep.map((id) => artistCard({ item: id, name: nameOf(id), tags: [] })),
    ...list.map(artistCard),
  );
  updateStart();
}

const names = new Map();
const nameOf = (id) => names.get(id) ?? id;

function artistCard(a) {
  names.set(a.item, a.name);
  const on = picked.artists.has(a.item);
  return el(
    "button",
    {
      class: "artist",
      dataset: { item: a.item },
      "aria-pressed": String(on),
      onclick: (ev) => {
        const now = !picked.artists.has(a.item);
        now ? picked.artists.add(a.item) : picked.artists.delete(a.item);
        ev.currentTarget.setAttribute("aria-pressed", String(now));
        updateStart();
      },
    },
    el("span", { class: "avatar", "aria-hidden": "true" }, initials(a.name)),
    el("span", { class: "name" }, a.name),
    el("span", { class: "tags" }, a.tags.slice(0, 2).join(" · ")),
  );
}

const initials = (name) =>
  name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0]).join("").toUpperCase();

function updateStart() {
  const n = picked.artists.size;
  const b = $("start");
  b.disabled = n < 3;
  b.textContent = n < 3 ? `Pick at least 3 ${noun()} (${n}/3)` : `Start listening with ${n} ${noun()}`;
}

$("start").addEventListener("click", () => {
  // Artists join the history as plays; songs are likes, which start tastes.
  for (const id of picked.artists) songsMode() ? t.feedback(id, "like") : t.addPlays(id, 10);
  save();
  renderApp();
});

// ---- the main view ----------------------------------------------------------

function renderApp() {
  $("onboarding").hidden = true;
  $("app").hidden = false;
  $("search").hidden = false;
  renderRecs();
  renderTaste();
  renderTastes();
}

const STAGES = { cold_start: "Cold start", fallback: "Exploring", ranking: "Ranking", model_based: "Taste models" };

// A staged pick's why: its taste and stage, then today's explanation.
function stagedWhy(r) {
  const parts = [];
  const taste = r.taste === null ? "Something new" : `Taste ${r.taste + 1}`;
  const exploring = r.explore && r.stage !== "fallback" ? " (exploring)" : "";
  parts.push(`${taste} · ${STAGES[r.stage] ?? r.stage}${exploring}`);
  if (r.because.length) parts.push(`like ${r.because.map((b) => b.name).join(", ")}`);
  if (r.shared_tags.length) parts.push(`shares ${r.shared_tags.join(", ")}`);
  return parts.join(" · ");
}

function why(r) {
  const parts = [];
  if (r.explanation.because.length) {
    parts.push(`Because you like ${r.explanation.because.map((b) => b.name).join(", ")}`);
  }
  if (r.explanation.sharedTags.length) parts.push(`shares ${r.explanation.sharedTags.join(", ")}`);
  if (!parts.length) parts.push(r.explanation.popularity > 1 ? "Popular with listeners like you" : "A discovery off the beaten track");
  return parts.join(" · ");
}

function bar(label, v) {
  const w = Math.max(0, Math.min(100, 50 + v * 15));
  return el("span", { class: "bar", title: `${label} ${v.toFixed(2)}` },
    el("span", { class: "bar-label" }, label),
    el("span", { class: "bar-track" }, el("span", { class: "bar-fill", style: `width:${w}%` })));
}

function renderRecs() {
  if (songsMode()) return renderStaged();
  let recs;
  try {
    recs = t.recommend({ k: 20 });
  } catch (e) {
    return showError("recommend", e);
  }
  for (const r of recs) names.set(r.item, r.name);
  $("recs").replaceChildren(
    ...recs.map((r) =>
      el("li", { class: "rec", dataset: { item: r.item } },
        el("span", { class: "avatar", "aria-hidden": "true" }, initials(r.name)),
        el("div", { class: "body" },
          el("div", { class: "title" }, r.name),
          el("div", { class: "why" }, why(r)),
          el("div", { class: "tags" }, r.tags.slice(0, 4).join(" · ")),
          el("div", { class: "bars" },
            bar("taste", r.explanation.cf),
            bar("sound", r.explanation.content),
            bar("fresh", r.explanation.popularity))),
        feedbackButtons(r)),
    ),
  );
  status(`${recs.length} picks from ${t.profileSize} artists in your profile`);
}

const feedbackButtons = (r) =>
  el("div", { class: "buttons" },
    el("button", { class: "like", title: "Like", "aria-label": `Like ${r.name}`, onclick: () => feedback(r.item, "like") }, "♥"),
    el("button", { class: "dislike", title: "Not for me", "aria-label": `Dislike ${r.name}`, onclick: () => feedback(r.item, "dislike") }, "✕"),
    el("button", { class: "skip", title: "Skip", "aria-label": `Skip ${r.name}`, onclick: () => feedback(r.item, "skip") }, "↷"),
    el("button", { class: "similar", title: `Similar ${noun()}`, onclick: () => showSimilar(r.item) }, "≈"));

// The song catalogue: the staged recommender, one list split over tastes.
function renderStaged() {
  const r = t.session({ op: "recommend", k: 20 });
  if (r.ok === false) return showError("recommend", new Error(r.error));
  for (const x of r.items) names.set(x.item, x.name);
  $("recs").replaceChildren(
    ...r.items.map((x) =>
      el("li", { class: "rec", dataset: { item: x.item, taste: x.taste ?? "", stage: x.stage } },
        el("span", { class: "avatar", "aria-hidden": "true" }, initials(x.name)),
        el("div", { class: "body" },
          el("div", { class: "title" }, x.name),
          el("div", { class: "why" }, stagedWhy(x)),
          el("div", { class: "tags" }, x.tags.slice(0, 4).join(" · "))),
        feedbackButtons(x)),
    ),
  );
  status(`${r.items.length} picks · ${STAGES[r.stage] ?? r.stage}`);
}

function feedback(item, kind) {
  try {
    t.feedback(item, kind);
    save();
    renderRecs();
    renderTaste();
    renderTastes();
  } catch (e) {
    showError("feedback", e);
  }
}

const AUDIO = ["energy", "valence", "danceability", "acousticness", "instrumentalness", "speechiness"];
const AUDIO_LABEL = { instrumentalness: "instrumental" };

// One card per taste: its genres, its sound, how sure the recommender is.
function renderTastes() {
  const p = t.session({ op: "profile" });
  if (p.ok === false) return showError("tastes", new Error(p.error));
  $("stage").textContent = STAGES[p.stage] ?? p.stage;
  $("tastes-note").textContent = p.tastes.length
    ? `${p.interactions} likes, dislikes and skips so far`
    : `Like a few ${noun()} and your tastes appear here, each on its own.`;
  $("tastes").replaceChildren(
    ...p.tastes.map((x) => {
      const title = x.title;
      const model = x.model ? ` · ${x.model.kind} model, AUC ${x.model.auc.toFixed(2)}` : "";
      const max = Math.max(...x.top_genres.map((g) => g[1]), 0.0001);
      return el("article", { class: "taste-card", dataset: { taste: x.id } },
        el("h3", {}, el("span", {}, `Taste ${x.id + 1}: ${title}`), el("span", { class: "conf" }, `${Math.round(100 * x.confidence)}% sure`)),
        el("div", { class: "counts" }, `♥ ${x.liked} · ✕ ${x.disliked} · ↷ ${x.skipped}${model}`),
        el("div", { class: "section" }, "Genres"),
        el("div", { class: "chart" },
          ...x.top_genres.slice(0, 4).map(([label, share]) =>
            el("div", { class: "taste-row" },
              el("span", { class: "taste-label" }, label),
              el("span", { class: "taste-track" }, el("span", { class: "taste-fill", style: `width:${(100 * share) / max}%` })),
              el("span", { class: "taste-pct" }, `${Math.round(100 * share)}%`)))),
        x.audio
          ? el("div", {},
              el("div", { class: "section" }, "Sound"),
              el("div", { class: "audio" },
                ...AUDIO.map((f) =>
                  el("div", { class: "audio-row", title: `${f} ${x.audio[f].toFixed(2)}` },
                    el("span", {}, AUDIO_LABEL[f] ?? f),
                    el("span", { class: "audio-track" }, el("span", { class: "audio-fill", style: `width:${Math.round(100 * x.audio[f])}%` }))))))
          : null);
    }),
  );
}

function renderTaste() {
  const shares = t.tasteSummary(8);
  const max = Math.max(...shares.map((s) => s.share), 0.0001);
  $("taste").replaceChildren(
    ...shares.map((s) =>
      el("div", { class: "taste-row" },
        el("span", { class: "taste-label" }, s.label),
        el("span", { class: "taste-track" }, el("span", { class: "taste-fill", style: `width:${(100 * s.share) / max}%` })),
        el("span", { class: "taste-pct" }, `${Math.round(100 * s.share)}%`))),
  );
}

function showList(panel, list, items) {
  $(panel).hidden = false;
  $(list).replaceChildren(
    ...items.map((r) => {
      names.set(r.item, r.name);
      return el("li", { dataset: { item: r.item } },
        el("span", { class: "name" }, r.name),
        el("span", { class: "tags" }, r.tags.slice(0, 3).join(" · ")),
        el("button", { class: "ghost small", title: `Like ${r.name}`, onclick: () => feedback(r.item, "like") }, "♥"));
    }),
  );
}

function showSimilar(item) {
  try {
    $("results-title").textContent = `Similar to ${nameOf(item)}`;
    $("results-note").textContent = "";
    $("filters").hidden = true;
    showList("results-panel", "results", t.similar(item, 10));
  } catch (e) {
    showError("similar", e);
  }
}

$("playlist").addEventListener("click", () => {
  try {
    const top = [...document.querySelectorAll("#recs .rec")].slice(0, 3).map((e) => e.dataset.item);
    const seeds = top.length ? top : [...t.recommend({ k: 3 })].map((r) => r.item);
    showList("playlist-panel", "playlist-list", t.autofill(seeds, 15));
  } catch (e) {
    showError("playlist", e);
  }
});

// The search filters (mood, energy: measured or predicted for every
// artist), as the package's search options.
function filters() {
  const f = {};
  if ($("f-mood").value) f.mood = $("f-mood").value;
  if ($("f-energy").value) f.energy = $("f-energy").value;
  return f;
}

async function runSearch() {
  const q = $("q").value.trim();
  if (!q) return;
  const f = filters();
  const said = Object.values(f).length ? ` · ${Object.entries(f).map(([k, v]) => `${k} ${v}`).join(", ")}` : "";
  $("results-title").textContent = `“${q}”`;
  $("filters").hidden = false;
  const panel = $("results-panel");
  panel.dataset.mode = "text";
  try {
    showList("results-panel", "results", t.searchText(q, { k: 10, ...f }));
  } catch {
    $("results").replaceChildren();
  }
  $("results-note").textContent = t.encoderReady ? "" : "Word matches; semantic results are loading…";
  try {
    const results = await t.search(q, { k: 10, ...f });
    // A newer search, a filter change or "similar" since: theirs stays.
    const stale = $("q").value.trim() !== q || JSON.stringify(filters()) !== JSON.stringify(f);
    if (stale || $("results-title").textContent !== `“${q}”`) return;
    showList("results-panel", "results", results);
    panel.dataset.mode = "semantic";
    $("results-note").textContent = results.length
      ? `Semantic matches, computed on this device${said}`
      : `Nothing matches${said}`;
  } catch (e) {
    $("results-note").textContent = `Semantic search unavailable: ${e.message}`;
  }
}

$("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  runSearch();
});
for (const id of ["f-mood", "f-energy"]) $(id).addEventListener("change", () => runSearch());

for (const b of document.querySelectorAll("[data-close]")) {
  b.addEventListener("click", () => ($(b.dataset.close).hidden = true));
}

$("reset").addEventListener("click", () => {
  t.resetProfile();
  localStorage.removeItem(profileKey());
  picked.genres.clear();
  picked.artists.clear();
  renderOnboarding();
});

// ---- start ------------------------------------------------------------------

async function main() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js").catch((e) => console.warn("no offline cache:", e));
  }
  const t0 = performance.now();
  // The catalogues this build ships (a song bundle where it had the data).
  const catalogues = await fetch(new URL("data/catalogues.json", location.href))
    .then((r) => (r.ok ? r.json() : { artists: "data/timbral.bundle" }))
    .catch(() => ({ artists: "data/timbral.bundle" }));
  if (!catalogues[catalogue]) catalogue = "artists";
  if (catalogues.songs) {
    $("catalogue").hidden = false;
    for (const b of document.querySelectorAll("[data-catalogue]")) {
      b.setAttribute("aria-pressed", String(b.dataset.catalogue === catalogue));
      b.addEventListener("click", () => {
        if (b.dataset.catalogue === catalogue) return;
        localStorage.setItem("timbral.catalogue", b.dataset.catalogue);
        location.search = `?catalogue=${b.dataset.catalogue}`;
      });
    }
  }
  document.body.dataset.catalogue = catalogue;
  if (songsMode()) $("lead").textContent = "Pick a few genres, then some songs you like: each style you like becomes a taste of its own. Everything is computed in this tab — nothing is sent anywhere.";
  t = await Timbral.load({
    bundle: new URL(catalogues[catalogue], location.href).href,
    model: new URL("models/model.onnx", location.href).href,
    tokenizer: new URL("models/tokenizer.json", location.href).href,
  });
  window.timbral = t;
  const info = t.info();
  $("info").textContent = `${info.items.toLocaleString()} ${noun()} · loaded in ${Math.round(performance.now() - t0)} ms`;
  const saved = localStorage.getItem(profileKey());
  if (saved) {
    try {
      t.loadProfile(fromB64(saved));
    } catch (e) {
      console.warn("discarding a saved profile:", e);
      localStorage.removeItem(profileKey());
    }
  }
  status("Ready");
  if (t.profileSize > 0) renderApp();
  else renderOnboarding();
  document.body.dataset.ready = "true";
}

main().catch((e) => showError("Timbral could not start", e));
