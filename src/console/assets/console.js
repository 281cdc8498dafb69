// The console works without this file; with it, a little better: a button marked
// data-confirm asks first, a return or rejection without a reason is caught before it is sent,
// and a form is not sent twice by a double click.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const button = event.submitter;
  if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
    return;
  }
  const reason = form.querySelector("select[name=reason]");
  if (button && reason && ["return", "reject"].includes(button.value) && !reason.value) {
    event.preventDefault();
    reason.setCustomValidity(reason.dataset.required || "");
    reason.reportValidity();
    reason.addEventListener("change", () => reason.setCustomValidity(""), { once: true });
    return;
  }
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  // The pressed button's name and value are sent before the buttons are disabled.
  if (button && button.name) {
    const carried = document.createElement("input");
    carried.type = "hidden";
    carried.name = button.name;
    carried.value = button.value;
    form.appendChild(carried);
  }
  for (const b of form.querySelectorAll("button")) b.disabled = true;
});
