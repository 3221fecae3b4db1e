// Canvass dashboard: asks for an analyst token once (kept in sessionStorage, so it dies with
// the tab), fetches the page's figures as an HTML fragment with `Authorization: Bearer`, and
// follows the page's event stream (server-sent events read through fetch(), since EventSource
// cannot send headers), fetching the fragment again whenever the server says it changed.
"use strict";

(function () {
  const KEY = "canvass.token";
  const figures = document.getElementById("figures");
  const form = document.getElementById("signin");
  const message = document.getElementById("message");
  const live = document.getElementById("live");
  const signout = document.getElementById("signout");
  let stream = null; // AbortController of the open event stream

  function say(text) {
    message.textContent = text || "";
    message.hidden = !text;
  }

  function askForToken(text) {
    sessionStorage.removeItem(KEY);
    if (stream) stream.abort();
    figures.replaceChildren();
    figures.dataset.state = "signed-out";
    live.hidden = true;
    signout.hidden = true;
    form.hidden = false;
    say(text);
    document.getElementById("token").focus();
  }

  async function loadFragment() {
    const token = sessionStorage.getItem(KEY);
    if (!token) return askForToken("");
    let response;
    try {
      response = await fetch(figures.dataset.fragment, {
        headers: { Authorization: "Bearer " + token },
        cache: "no-store",
      });
    } catch (e) {
      return say("无法连接服务器,请稍后重试。");
    }
    const body = await response.text();
    if (response.status === 401) return askForToken("令牌无效或已过期,请重新输入。");
    if (!response.ok) {
      figures.dataset.state = "error";
      figures.innerHTML = body;
      return;
    }
    form.hidden = true;
    signout.hidden = false;
    say("");
    figures.innerHTML = body;
    figures.dataset.state = "loaded";
    figures.dataset.loads = String(Number(figures.dataset.loads || 0) + 1);
  }

  // Reads `event:` lines of a server-sent event stream; calls onEvent(name) per event.
  async function readEvents(response, onEvent) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let name = "message";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, "");
        buffer = buffer.slice(end + 1);
        if (line === "") {
          onEvent(name);
          name = "message";
        } else if (line.startsWith("event:")) {
          name = line.slice(6).trim();
        }
      }
    }
  }

  async function follow() {
    const url = figures.dataset.events;
    if (!url) return;
    let pause = 1000;
    for (;;) {
      const token = sessionStorage.getItem(KEY);
      if (!token) return;
      stream = new AbortController();
      try {
        const response = await fetch(url, {
          headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" },
          signal: stream.signal,
          cache: "no-store",
        });
        if (response.status === 401) return askForToken("令牌无效或已过期,请重新输入。");
        if (response.ok) {
          await readEvents(response, (name) => {
            if (name === "ready") {
              pause = 1000;
              live.hidden = false;
              // Reconnected: whatever changed meanwhile is in a fresh fragment.
              if (figures.dataset.streams) loadFragment();
              figures.dataset.streams = String(Number(figures.dataset.streams || 0) + 1);
            } else if (name === "change") {
              loadFragment();
            }
          });
        }
      } catch (e) {
        if (stream.signal.aborted) return;
      }
      live.hidden = true;
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 30000);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    sessionStorage.setItem(KEY, input.value.trim());
    input.value = "";
    start();
  });
  signout.addEventListener("click", () => askForToken("已退出。"));

  async function start() {
    await loadFragment();
    if (sessionStorage.getItem(KEY)) follow();
  }

  start();
})();
