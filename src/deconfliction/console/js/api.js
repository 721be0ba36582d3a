// The public HTTP API over fetch: bearer token, JSON in and out, problem+json as ApiError.

// A refusal by the API (RFC 9457): status, title, detail, code and the per-field `errors`
// ([{field, reason}]) so a form can put each message next to its field.
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.title = problem.title || `HTTP ${status}`;
    this.detail = problem.detail || "";
    this.code = problem.code || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
  }
}

// createApi(() => token) → {get, post, put, del, request}. Each resolves to the parsed JSON
// body (or {body, headers} with `{full: true}`) and rejects with ApiError on any refusal, or
// with ApiError(0) when the server cannot be reached.
export function createApi(token, { onUnauthenticated } = {}) {
  async function request(method, path, { body, headers = {}, full = false, signal } = {}) {
    const init = { method, headers: { Accept: "application/json", ...headers }, signal };
    const current = token();
    if (current) init.headers.Authorization = `Bearer ${current}`;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, { title: "The server cannot be reached", detail: String(error.message || error) });
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { detail: text.slice(0, 200) };
      }
    }
    if (!response.ok) {
      if (response.status === 401 && onUnauthenticated) onUnauthenticated();
      throw new ApiError(response.status, data || {});
    }
    return full ? { body: data, headers: response.headers } : data;
  }

  return {
    request,
    get: (path, options) => request("GET", path, options),
    post: (path, body, options) => request("POST", path, { ...options, body }),
    put: (path, body, options) => request("PUT", path, { ...options, body }),
    del: (path, options) => request("DELETE", path, options),
    token,
  };
}

// A query string from an object, skipping empty values.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// A fresh Idempotency-Key header, so a repeated submission is answered, not repeated.
export function idempotent() {
  return { "Idempotency-Key": crypto.randomUUID() };
}
