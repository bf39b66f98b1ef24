// Draws Teams markdown as the preview page and Web Chat do: markdown-it, no raw HTML, no
// guessed links. stdin: a JSON list of texts. stdout: a JSON list of their HTML.
"use strict";
const md = require("markdown-it")({ linkify: false });

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map((text) => md.render(text))));
});
