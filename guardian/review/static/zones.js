// Zone editor: drag a polygon's corner; on release the zone is saved (POST, CSRF token).
"use strict";
(function () {
  const svg = document.getElementById("editor");
  if (!svg) return;
  const status = document.getElementById("zone-status");
  const csrf = document.querySelector("input[name=csrf]").value;
  const width = Number(svg.dataset.width), height = Number(svg.dataset.height);
  let drag = null;

  function point(evt) {
    const p = svg.createSVGPoint();
    p.x = evt.clientX; p.y = evt.clientY;
    const q = p.matrixTransform(svg.getScreenCTM().inverse());
    return [Math.min(width, Math.max(0, q.x)), Math.min(height, Math.max(0, q.y))];
  }
  function handles(group) { return Array.from(group.querySelectorAll("circle.handle")); }
  function redraw(group) {
    const pts = handles(group).map((c) => c.getAttribute("cx") + "," + c.getAttribute("cy"));
    group.querySelector("polygon").setAttribute("points", pts.join(" "));
  }
  function say(text, bad) {
    status.textContent = text;
    status.className = bad ? "error" : "ok";
  }
  async function save(group) {
    const points = handles(group).map((c) => [Number(c.getAttribute("cx")), Number(c.getAttribute("cy"))]);
    const zone = group.dataset.zone;
    say("saving " + zone + "…", false);
    try {
      const reply = await fetch(window.location.pathname, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ zone: zone, points: points, width: width, height: height }),
      });
      const body = await reply.json();
      if (reply.ok) say("saved " + zone + " to " + body.file, false);
      else say("not saved: " + body.error, true);
    } catch (err) {
      say("not saved: " + err, true);
    }
  }
  svg.addEventListener("pointerdown", (evt) => {
    const target = evt.target;
    if (!(target instanceof SVGCircleElement) || !target.classList.contains("handle")) return;
    drag = { handle: target, group: target.closest("g.zone") };
    target.setPointerCapture(evt.pointerId);
    evt.preventDefault();
  });
  svg.addEventListener("pointermove", (evt) => {
    if (!drag) return;
    const [x, y] = point(evt);
    drag.handle.setAttribute("cx", x.toFixed(1));
    drag.handle.setAttribute("cy", y.toFixed(1));
    redraw(drag.group);
  });
  function release() {
    if (!drag) return;
    const group = drag.group;
    drag = null;
    save(group);
  }
  svg.addEventListener("pointerup", release);
  svg.addEventListener("pointercancel", release);
})();
