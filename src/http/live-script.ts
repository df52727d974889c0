/**
 * The one script our pages load, served from our own origin at
 * `/assets/live-run.js` (the CSP allows `script-src 'self'` and nothing
 * inline). What it does:
 *
 * - a live run page (`#live-run`) polls `/api/v1/runs/:id/live` every 2 s while
 *   the run is active and swaps in the server-rendered report (charts, guardrail
 *   evaluations, timeline: all escaped on the server), the state and the time
 *   left, counting down between polls; it stops when the run ends, and after at
 *   most two hours of polling;
 * - the Abort and Halt-all forms ask for a reason and POST it as JSON with
 *   fetch from this origin, so the browser sends our Origin header — the
 *   session cookie alone never makes a write (src/http/auth.ts);
 * - the Log out button POSTs /logout the same way and goes to /login.
 *
 * Plain ES2017, no dependencies, no eval, no innerHTML of anything but HTML
 * the server rendered and escaped.
 */
export const LIVE_SCRIPT = String.raw`(function () {
  'use strict';
  var POLL_MS = 2000;
  var MAX_POLLS = 3600;

  function post(url, body) {
    var init = { method: 'POST', credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) throw new Error((data && data.message) || ('HTTP ' + res.status));
        return data;
      });
    });
  }

  function wireLogout() {
    var buttons = document.querySelectorAll('[data-logout]');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener('click', function () {
        post('/logout').catch(function () { return null; }).then(function () { window.location.assign('/login'); });
      });
    }
  }

  function secondsText(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    return s >= 60 ? Math.floor(s / 60) + ' min ' + (s % 60) + ' s' : s + ' s';
  }

  function wireRun(root) {
    var runId = root.getAttribute('data-run');
    var stateEl = document.getElementById('live-state');
    var leftEl = document.getElementById('live-time-left');
    var updatedEl = document.getElementById('live-updated');
    var reportEl = document.getElementById('live-report');
    var controls = document.getElementById('live-controls');
    var message = document.getElementById('live-message');
    var active = root.getAttribute('data-active') === 'true';
    var leftMs = Number(root.getAttribute('data-time-left-ms'));
    var leftAt = Date.now();
    var polls = 0;
    var timer = null;

    function say(text, bad) {
      if (!message) return;
      message.textContent = text;
      message.className = bad ? 'live-message bad' : 'live-message';
    }

    function showLeft() {
      if (!leftEl) return;
      if (!active) { leftEl.textContent = ''; return; }
      if (!isFinite(leftMs)) { leftEl.textContent = 'fault window not open'; return; }
      leftEl.textContent = 'time left in the fault window: ' + secondsText(leftMs - (Date.now() - leftAt));
    }

    function apply(data) {
      active = data.active === true;
      root.setAttribute('data-active', String(active));
      root.setAttribute('data-state', data.state);
      if (stateEl) {
        stateEl.textContent = data.state;
        stateEl.className = 'pill tone-' + data.tone;
      }
      leftMs = typeof data.timeLeftMs === 'number' ? data.timeLeftMs : NaN;
      leftAt = Date.now();
      showLeft();
      if (reportEl && typeof data.report === 'string') reportEl.innerHTML = data.report;
      if (updatedEl) updatedEl.textContent = 'updated ' + new Date().toLocaleTimeString();
      if (!active && controls) controls.hidden = true;
      document.title = data.title;
    }

    function poll() {
      polls += 1;
      fetch('/api/v1/runs/' + encodeURIComponent(runId) + '/live', { credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then(function (res) {
          if (res.status === 401) { window.location.assign('/login'); return null; }
          if (!res.ok) throw new Error('HTTP ' + res.status);
          return res.json();
        })
        .then(function (data) {
          if (data) apply(data);
        })
        .catch(function (err) { if (updatedEl) updatedEl.textContent = 'could not refresh: ' + err.message; })
        .then(function () {
          if (active && polls < MAX_POLLS) timer = setTimeout(poll, POLL_MS);
        });
    }

    function wireForm(form, url, confirmText) {
      form.addEventListener('submit', function (event) {
        event.preventDefault();
        var input = form.querySelector('input[name="reason"]');
        var reason = input ? input.value.trim() : '';
        if (!reason) { say('Give a reason: it is recorded on the run.', true); return; }
        if (!window.confirm(confirmText)) return;
        var button = form.querySelector('button');
        if (button) button.disabled = true;
        say('Sending…', false);
        post(url, { reason: reason })
          .then(function () {
            say('Done. The run records: ' + reason, false);
            if (timer) clearTimeout(timer);
            active = true;
            poll();
          })
          .catch(function (err) { say('Refused: ' + err.message, true); })
          .then(function () { if (button) button.disabled = false; });
      });
    }

    var abortForm = document.querySelector('form[data-action="abort"]');
    if (abortForm) wireForm(abortForm, '/api/v1/runs/' + encodeURIComponent(runId) + '/abort', 'Abort this run? Its fault window closes now.');
    var haltForm = document.querySelector('form[data-action="halt-all"]');
    if (haltForm) wireForm(haltForm, '/api/v1/halt-all', 'Halt ALL runs? Every fault window closes and no run may start until an admin clears halt-all.');

    var ticker = setInterval(function () {
      showLeft();
      if (!active) clearInterval(ticker);
    }, 1000);
    showLeft();
    if (active) timer = setTimeout(poll, POLL_MS);
  }

  function start() {
    wireLogout();
    var root = document.getElementById('live-run');
    if (root) wireRun(root);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
`;
