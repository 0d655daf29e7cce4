// The copy button beside a secret shown once: copies the text of the element it names.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const status = document.getElementById("copy-status");
  const say = (text) => { if (status) status.textContent = text; };
  navigator.clipboard.writeText(source.textContent.trim()).then(
    () => say("Copied."),
    () => {
      window.getSelection().selectAllChildren(source);  // the keyboard can copy it then
      say("Copying was refused: the secret is selected, press Ctrl+C.");
    },
  );
});
