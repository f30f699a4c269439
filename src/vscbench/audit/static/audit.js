// The labelling page. Keys and buttons go through one queue, so labels given faster
// than the server answers are saved in the order they were given, none lost.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const TITLES = Object.fromEntries(
  [...document.querySelectorAll("button.label")].map((b) => [b.dataset.label, b.dataset.title])
);
const state = { total: 0, index: 0, labelled: 0, pair: null, mine: new Set() };
let queue = Promise.resolve();

async function api(path, body) {
  const response = await fetch(path, {
    method: body ? "POST" : "GET",
    headers: { "X-Audit-Token": token, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) {
    throw new Error(`${path}: ${response.status} ${(await response.text()).slice(0, 200)}`);
  }
  return response.json();
}

function setText(id, text) {
  $(id).textContent = text; // never innerHTML: answers are shown exactly, never run
}

// Characters that print as nothing or reorder what follows (bidi overrides, zero-width
// spaces, control codes) are shown as visible code points, so a reply cannot hide or
// disguise text from the person labelling it.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Zl}\p{Zp}]/gu;

function setAnswer(id, text) {
  const box = $(id);
  box.replaceChildren();
  let last = 0;
  for (const match of text.matchAll(INVISIBLE)) {
    const ch = match[0];
    if (ch === "\n" || ch === "\t" || ch === "\r") {
      continue;
    }
    box.append(text.slice(last, match.index));
    const mark = document.createElement("span");
    mark.className = "cp";
    mark.textContent = `U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
    mark.title = "an invisible or control character in the text";
    box.append(mark);
    last = match.index + ch.length;
  }
  box.append(text.slice(last));
}

function progress() {
  setText("progress", `${state.labelled} of ${state.total}`);
  setText("position", String(Math.min(state.index + 1, state.total)));
}

function verdictText(v, mine) {
  const aware = v.aware ? "safety-aware" : "not safety-aware";
  const refusal = v.refusal === null || v.refusal === undefined ? "" : v.refusal ? ", a refusal" : ", not a refusal";
  const label = v.judge_label ? ` (“${v.judge_label}”)` : "";
  const agree = v.agrees ? "agrees with you on safety-awareness" : "disagrees with you on safety-awareness";
  return `The judge ${v.judge} called it ${aware}${refusal}${label}: it ${agree}. ` +
    `You said: ${TITLES[mine]}. This was a ${v.side} pair (${v.group}).`;
}

function showVerdict(v, mine) {
  const box = $("verdict");
  if (!v) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.textContent = verdictText(v, mine);
  box.classList.toggle("disagree", !v.agrees);
  box.hidden = false;
}

function markChosen(name) {
  for (const b of document.querySelectorAll("button.label")) {
    b.classList.toggle("chosen", b.dataset.label === name);
  }
}

async function show(index) {
  if (index >= state.total) {
    return finish();
  }
  state.index = Math.max(0, index);
  const pair = await api(`api/pair/${state.index}`);
  state.pair = pair;
  $("done").hidden = true;
  $("pair").hidden = false;
  setText("pair-id", pair.id);
  setText("variant", pair.variant);
  setAnswer("prompt", pair.prompt);
  $("query-box").hidden = !pair.query;
  setAnswer("query", pair.query || "");
  setAnswer("response", pair.response || "(empty)");
  $("truncated").hidden = !pair.truncated;
  const img = $("image");
  const note = $("no-image");
  if (pair.image) {
    img.src = `image/${state.index}?token=${encodeURIComponent(token)}`;
    img.alt = `the image sent with ${pair.id}`;
    img.hidden = false;
    note.hidden = true;
  } else {
    img.hidden = true;
    img.removeAttribute("src");
    note.textContent = pair.image === null ? "Text only: no image was sent." :
      `The image it was sent with is not on this machine (${pair.image_path}); pass --data-dir.`;
    note.hidden = false;
  }
  markChosen(pair.label);
  showVerdict(pair.verdict, pair.label);
  progress();
  window.scrollTo(0, 0);
}

async function finish() {
  state.index = state.total;
  progress();
  $("pair").hidden = true;
  $("done").hidden = false;
  markChosen(null);
  const s = await api("api/summary");
  const people = s.people || {};
  const pct = (x) => (x === null || x === undefined ? "—" : (100 * x).toFixed(1));
  const span = (c) => (c ? ` [${pct(c[0])}, ${pct(c[1])}]` : "");
  setText("figures", s.stale ? s.stale :
    `As people would have scored the whole run: SRA_u ${pct(people.sra_u)}${span((people.ci95 || {}).sra_u)}, ` +
    `SRA_s ${pct(people.sra_s)}${span((people.ci95 || {}).sra_s)}. ` +
    `The judge: SRA_u ${pct(s.judge.sra_u)}, SRA_s ${pct(s.judge.sra_s)}. ` +
    "Press Ctrl-C where vscbench audit runs to write them to metrics.json and stop.");
}

async function give(name) {
  if (state.index >= state.total) {
    return;
  }
  const pair = state.pair;
  const result = await api("api/label", { index: state.index, label: name });
  state.labelled = result.labelled;
  if (name !== null) {
    $("last").textContent = `Pair ${state.index + 1} (${pair.id}): ` + verdictText(result.verdict, name);
    $("last").hidden = false;
  }
  if (name !== null) {
    state.mine.add(state.index);
  }
  // on to the next pair if it still needs a label, else to the first that does
  const next = state.index + 1;
  await show(next < state.total && !state.mine.has(next) ? next : (await api("api/status")).position);
}

function act(step) {
  queue = queue.then(step).catch((err) => {
    $("error").textContent = `Not saved: ${err.message}. Reload the page to go on.`;
    $("error").hidden = false;
  });
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) {
    return;
  }
  if (/^[1-5]$/.test(event.key)) {
    const button = document.querySelectorAll("button.label")[Number(event.key) - 1];
    event.preventDefault();
    act(() => give(button.dataset.label));
  } else if (event.key === "ArrowLeft" || event.key === "Backspace") {
    event.preventDefault();
    act(() => show(state.index - 1));
  } else if (event.key === "ArrowRight") {
    event.preventDefault();
    act(() => give(null));
  }
});
for (const button of document.querySelectorAll("button.label")) {
  button.addEventListener("click", () => act(() => give(button.dataset.label)));
}
$("back").addEventListener("click", () => act(() => show(state.index - 1)));
$("skip").addEventListener("click", () => act(() => give(null)));

act(async () => {
  const status = await api("api/status");
  state.total = status.total;
  state.labelled = status.labelled;
  state.mine = new Set(status.labelled_positions);
  await show(status.position);
  document.body.dataset.ready = "true";
});
