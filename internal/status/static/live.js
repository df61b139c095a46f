// Live updates for the nxray status page: each new verdict arrives over
// Server-Sent Events and is added at the top of the list. Everything from the
// server goes into the page as text (textContent), never as markup, so a DNS
// name holding "<img ...>" stays a name. The page works without this script.
(function () {
  'use strict';
  var body = document.body;
  var list = document.getElementById('diagnoses');
  var live = document.getElementById('live');
  if (!list || !window.EventSource || !body.dataset.events) {
    return;
  }

  // The token the page's links carry, when it needs one.
  var token = new URL(body.dataset.events, location.href).searchParams.get('token');

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function clock(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return ''; }
    return d.toISOString().slice(11, 19);
  }

  function evidenceTable(rows) {
    var wrap = el('div', 'scroll');
    var t = el('table', 'evidence');
    var head = el('tr');
    ['server', 'role', 'query', 'rcode', 'aa', 'answers', 'rtt', 'ede', 'error'].forEach(function (h) {
      head.appendChild(el('th', null, h));
    });
    t.appendChild(el('thead')).appendChild(head);
    var tb = t.appendChild(el('tbody'));
    (rows || []).forEach(function (r) {
      var tr = el('tr');
      [[r.server, 'mono'], [r.role], [r.query, 'mono'], [r.rcode || '-'], [r.aa ? 'aa' : ''],
        [r.answers], [r.rcode ? r.rtt_ms.toFixed(1) + ' ms' : '-'], [(r.ede || []).join(' ')], [r.error || '']
      ].forEach(function (c) { tr.appendChild(el('td', c[1] || null, c[0])); });
      tb.appendChild(tr);
    });
    wrap.appendChild(t);
    return wrap;
  }

  // verdictItem builds the same markup the server's template does for a
  // verdict as it is published: when it is made, before any failures of
  // other names are grouped onto it.
  function verdictItem(v) {
    var li = el('li', 'verdict fresh');
    li.dataset.id = v.id;
    li.dataset.cause = v.cause;
    var det = li.appendChild(el('details'));
    var sum = det.appendChild(el('summary'));
    var time = el('time', null, clock(v.last_seen));
    time.setAttribute('datetime', v.last_seen);
    sum.appendChild(time);
    sum.appendChild(el('span', 'name mono', v.name));
    sum.appendChild(el('span', 'qtype', v.qtype));
    sum.appendChild(el('span', 'rcode', v.rcode));
    sum.appendChild(el('span', 'badge cause-' + v.cause, v.cause));
    sum.appendChild(el('span', 'summary', v.summary));
    sum.appendChild(el('span', 'meta', 'seen ' + v.count + '\u00d7 \u00b7 first ' + clock(v.first_seen) +
      ' \u00b7 last ' + clock(v.last_seen) + ' UTC \u00b7 ' + v.duration_ms + ' ms'));
    var d = det.appendChild(el('div', 'detail'));
    var adv = d.appendChild(el('p', 'advice'));
    adv.appendChild(el('strong', null, 'Advice:'));
    adv.appendChild(document.createTextNode(' ' + v.advice));
    var perm = d.appendChild(el('p', 'permalink'));
    var a = perm.appendChild(el('a', null, 'permalink, with the delegation path'));
    a.href = '/diagnoses/' + encodeURIComponent(String(v.id)) + (token ? '?token=' + encodeURIComponent(token) : '');
    var up = 'Upstream ' + v.upstream;
    if (v.upstream_ede && v.upstream_ede.length) {
      up += '; its Extended DNS Errors: ' + v.upstream_ede.map(function (e) {
        return e.code + (e.text ? ' (' + e.text + ')' : '');
      }).join(', ');
    }
    if (v.ede && v.ede.length) { up += "; nxray's on later answers: " + v.ede.join(' '); }
    d.appendChild(el('p', 'muted', up));
    d.appendChild(evidenceTable(v.evidence));
    li.appendChild(flushForm(v));
    return li;
  }

  // flushForm is the verdict's "flush and ask again" button, a plain form
  // as the template makes it; values are set as properties, never markup.
  function flushForm(v) {
    var f = el('form', 'flush');
    f.method = 'post';
    f.action = '/flush';
    function hidden(name, value) {
      var i = el('input');
      i.type = 'hidden';
      i.name = name;
      i.value = value;
      f.appendChild(i);
    }
    if (body.dataset.token) { hidden('token', body.dataset.token); }
    hidden('name', v.name);
    hidden('type', v.qtype);
    var b = f.appendChild(el('button', null, 'flush and ask again'));
    b.type = 'submit';
    b.title = 'remove ' + v.name + " and every name under it from nxray's cache, then explain it again";
    return f;
  }

  function add(v) {
    var empty = document.getElementById('empty');
    if (empty) { empty.remove(); }
    var item = verdictItem(v);
    var old = list.querySelector('li[data-id="' + CSS.escape(String(v.id)) + '"]');
    if (old) { old.remove(); }
    list.insertBefore(item, list.firstChild);
  }

  var es = new EventSource(body.dataset.events);
  es.addEventListener('open', function () {
    body.dataset.live = 'on';
    live.textContent = 'live: new diagnoses appear here as they happen';
  });
  es.addEventListener('error', function () {
    body.dataset.live = 'off';
    live.textContent = 'live updates paused; reconnecting';
  });
  es.addEventListener('verdict', function (ev) {
    try { add(JSON.parse(ev.data)); } catch (e) { /* a malformed event is skipped */ }
  });
})();
