// The live line: GET /v1/events read with fetch (EventSource cannot send the bearer header),
// SSE frames parsed by hand, resumed after a drop with Last-Event-ID, backing off.

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

// Parses complete SSE frames out of `buffer`; returns [events, rest]. Each event is
// {id, type, data}; comments (keep-alives) and frames without data are dropped.
export function parseFrames(buffer) {
  const events = [];
  const frames = buffer.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = frames.pop();
  for (const frame of frames) {
    let id = null;
    let type = "message";
    const data = [];
    for (const line of frame.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (name === "id") id = value;
      else if (name === "event") type = value;
      else if (name === "data") data.push(value);
    }
    if (data.length) events.push({ id, type, data: data.join("\n") });
  }
  return [events, rest];
}

// createEvents(api, {onUnauthenticated}) → {start, stop, subscribe, onStatus}. `subscribe(fn)`
// gets each event's parsed JSON ({id, type, mechanism_id, subject_id, created_at, data}) and
// returns an unsubscribe function. `onStatus(fn)` gets "connecting", "live", "reconnecting" or
// "stopped". `onUnauthenticated()` is called when the stream refuses the token (401): the line
// then stops for good.
export function createEvents(api, { onUnauthenticated } = {}) {
  const listeners = new Set();
  const statusListeners = new Set();
  let lastId = null;
  let controller = null;
  let timer = null;
  let delay = FIRST_DELAY_MS;
  let running = false;

  const setStatus = (status, detail = "") => statusListeners.forEach((fn) => fn(status, detail));

  async function connect() {
    controller = new AbortController();
    setStatus(lastId === null ? "connecting" : "reconnecting");
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${api.token()}` };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    let retryAfter = 0;
    try {
      const response = await fetch("/v1/events", { headers, signal: controller.signal, cache: "no-store" });
      if (response.status === 401) {
        running = false;
        setStatus("stopped", "The token is no longer accepted.");
        if (onUnauthenticated) onUnauthenticated();
        return;
      }
      if (!response.ok || !response.body) {
        retryAfter = Number(response.headers.get("Retry-After") || 0) * 1000;
        throw new Error(`HTTP ${response.status}`);
      }
      delay = FIRST_DELAY_MS;
      setStatus("live");
      await read(response.body.getReader());
    } catch (error) {
      if (error.name === "AbortError" || !running) return;
    }
    if (!running) return;
    const wait = Math.max(retryAfter, delay * (0.5 + Math.random() / 2));
    delay = Math.min(delay * 2, MAX_DELAY_MS);
    setStatus("reconnecting", `retrying in ${Math.round(wait / 1000)} s`);
    timer = setTimeout(connect, wait);
  }

  async function read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const [events, rest] = parseFrames(buffer);
      buffer = rest;
      for (const event of events) {
        if (event.id !== null) lastId = event.id;
        let payload;
        try {
          payload = JSON.parse(event.data);
        } catch {
          continue;
        }
        for (const fn of listeners) {
          try {
            fn(payload);
          } catch (error) {
            console.error("event listener failed", error);
          }
        }
      }
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      connect();
    },
    stop() {
      running = false;
      clearTimeout(timer);
      if (controller) controller.abort();
      setStatus("stopped");
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    onStatus(fn) {
      statusListeners.add(fn);
      return () => statusListeners.delete(fn);
    },
  };
}
