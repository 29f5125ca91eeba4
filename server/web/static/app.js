// The page: reads /schema, builds the action form, opens this tab's own session on /ws and
// shows each reply (observation, reward, flags, state, rendering) and the history.

import { Connection, ServerError } from "./connection.js";
import { buildForm, FormError } from "./form.js";

const TOKEN_KEY = "openenv-gym.token";
const MAX_SHOWN_CHARS = 200_000;
const $ = (id) => document.getElementById(id);

const page = { connection: null, form: null, schema: null, steps: 0, busy: false };

function serverUrl(path) {
  return new URL(`../${path}`, location.href);
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
  const connected = state === "connected";
  for (const id of ["step", "reset", "state-button"]) $(id).disabled = !connected || page.busy;
  $("reconnect").hidden = state !== "disconnected";
}

function showError(error) {
  const box = $("error");
  box.hidden = error === null;
  if (error === null) return;
  const code = error instanceof ServerError ? `${error.code}: ` : "";
  box.textContent = code + error.message;
}

/** Indented JSON, with each list of plain values on one line (an image is not one long column). */
function pretty(value) {
  const text = format(value, "");
  if (text.length <= MAX_SHOWN_CHARS) return text;
  return `${text.slice(0, MAX_SHOWN_CHARS)}\n… (${text.length - MAX_SHOWN_CHARS} more characters)`;
}

function format(value, indent) {
  const plain = (item) => item === null || typeof item !== "object";
  if (plain(value)) return JSON.stringify(value) ?? "null";
  const inner = `${indent}  `;
  const block = (open, lines, close) => (lines.length ? `${open}\n${lines.join(",\n")}\n${indent}${close}` : open + close);
  if (Array.isArray(value)) {
    if (value.every(plain)) return `[${value.map((item) => format(item, inner)).join(", ")}]`;
    return block("[", value.map((item) => inner + format(item, inner)), "]");
  }
  return block("{", Object.entries(value).map(([key, item]) => `${inner}${JSON.stringify(key)}: ${format(item, inner)}`), "}");
}

async function fetchJson(path) {
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  const response = await fetch(serverUrl(path), { headers });
  if (response.status === 401) return null;
  if (!response.ok) throw new Error(`GET /${path} answered ${response.status}`);
  return response.json();
}

async function start() {
  setStatus("connecting", "connecting…");
  const [schema, metadata] = await Promise.all([fetchJson("schema"), fetchJson("metadata")]);
  if (schema === null) {
    askForToken(token() ? "the server refused this token" : "");
    return;
  }
  $("token-form").hidden = true;
  page.schema = schema;
  document.title = $("env-name").textContent = metadata.name || "OpenEnv environment";
  page.form = buildForm(schema.action, $("fields"));
  await connect();
}

function askForToken(problem) {
  setStatus("locked", "token required");
  $("token-form").hidden = false;
  $("token-error").textContent = problem;
  $("token").focus();
}

async function connect() {
  setStatus("connecting", "connecting…");
  try {
    page.connection = await Connection.open(serverUrl("ws"), token(), (reason) => {
      page.connection = null;
      setStatus("disconnected", `disconnected: ${reason}`);
    });
  } catch (error) {
    setStatus("disconnected", `disconnected: ${error.message}`);
    return;
  }
  setStatus("connected", "connected: own session");
  await reset();
}

async function run(action) {
  page.busy = true;
  setStatus("connected", "working…");
  try {
    await action();
    showError(null);
  } catch (error) {
    showError(error);
    page.form.showErrors(error.errors || []);
  } finally {
    page.busy = false;
    if (page.connection) setStatus("connected", "connected: own session");
  }
}

function reset() {
  return run(async () => {
    const seed = $("seed").value;
    const reply = await page.connection.request("reset", seed === "" ? {} : { seed: Number(seed) });
    page.steps = 0;
    page.form.showErrors([]);
    await show(reply);
    addHistory(seed === "" ? "reset" : `reset (seed ${seed})`, null, reply);
  });
}

function step() {
  return run(async () => {
    const action = readAction();
    const reply = await page.connection.request("step", action);
    page.steps += 1;
    page.form.showErrors([]);
    await show(reply);
    addHistory(`step ${page.steps}`, action, reply);
  });
}

function readAction() {
  if (!$("raw-toggle").checked) return page.form.read();
  try {
    return JSON.parse($("raw").value);
  } catch (error) {
    throw new FormError([], `the raw action is not valid JSON (${error.message})`);
  }
}

function toggleRaw() {
  const raw = $("raw-toggle").checked;
  try {
    if (raw) $("raw").value = pretty(page.form.read());
    else page.form.write(JSON.parse($("raw").value));
  } catch (error) {
    $("raw-toggle").checked = !raw;
    showError(error);
    return;
  }
  $("raw").hidden = !raw;
  $("fields").hidden = raw;
}

async function show(reply) {
  $("step-count").textContent = page.steps;
  $("reward").textContent = reply.reward ?? "–";
  $("done").textContent = reply.done;
  $("truncated").textContent = reply.truncated ?? false;
  $("episode-over").hidden = !(reply.done || reply.truncated);
  $("observation").textContent = pretty(reply.observation);
  const info = reply.info || {};
  $("info-box").hidden = Object.keys(info).length === 0;
  $("info").textContent = pretty(info);
  await Promise.all([refreshState(), refreshRendering()]);
}

async function refreshState() {
  $("state").textContent = pretty(await page.connection.request("state"));
}

/** The environment's renderings that /schema lists: ansi text in a <pre>, an rgb_array frame on a canvas. */
async function refreshRendering() {
  const modes = page.schema.render_modes || [];
  const [text, frame] = await Promise.all(["ansi", "rgb_array"].map((mode) => (modes.includes(mode)
    ? page.connection.request("render", { mode }).then((reply) => reply.frame) : null)));
  $("render").hidden = typeof text !== "string";
  $("render").textContent = text ?? "";
  drawFrame(frame);
}

function drawFrame(frame) {
  const canvas = $("frame");
  canvas.hidden = !Array.isArray(frame);
  if (canvas.hidden) return;
  const [height, width] = [frame.length, frame[0].length];
  Object.assign(canvas, { width, height });
  const image = new ImageData(width, height);
  frame.flat().forEach(([r, g, b], i) => image.data.set([r, g, b, 255], 4 * i));
  canvas.getContext("2d").putImageData(image, 0, 0);
}

function addHistory(title, action, reply) {
  const item = document.createElement("li");
  const flags = [reply.done && "done", reply.truncated && "truncated"].filter(Boolean).join(", ");
  const heading = document.createElement("div");
  heading.className = "entry";
  heading.textContent = `${title} · reward ${reply.reward ?? "–"}${flags ? ` · ${flags}` : ""}`;
  item.append(heading);
  if (action !== null) {
    const code = document.createElement("code");
    code.textContent = JSON.stringify(action);
    item.append(code);
  }
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "observation";
  const body = document.createElement("pre");
  body.textContent = pretty(reply.observation);
  details.append(summary, body);
  item.append(details);
  $("history").prepend(item);
}

function wire() {
  $("action-form").addEventListener("submit", (event) => { event.preventDefault(); step(); });
  $("reset-form").addEventListener("submit", (event) => { event.preventDefault(); reset(); });
  $("state-button").addEventListener("click", () => run(refreshState));
  $("raw-toggle").addEventListener("change", toggleRaw);
  $("reconnect").addEventListener("click", connect);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    start().catch(showError);
  });
  window.addEventListener("pagehide", () => page.connection?.close());
}

wire();
start().catch(showError);
