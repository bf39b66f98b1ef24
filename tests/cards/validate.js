// Checks Adaptive Cards with Microsoft's own library, the one that draws them in Web Chat:
// what it reports while parsing (unknown elements, properties above schema 1.4) and what
// validateProperties() finds (an input without a label, duplicate ids...).
//
// stdin: a JSON list of [name, card]. stdout: a JSON object of name -> messages, holding
// only the cards that had any. Exit status 0 either way; the caller decides.
"use strict";
const AC = require("adaptivecards/dist/adaptivecards.js");

function problems(json) {
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext(AC.Versions.v1_4);
  card.parse(json, context);
  const found = [];
  for (let i = 0; i < context.eventCount; i++) {
    found.push(`parse: ${context.getEventAt(i).message}`);
  }
  for (const event of card.validateProperties().validationEvents) {
    found.push(`validation: ${event.message}`);
  }
  return found;
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const out = {};
  for (const [name, json] of JSON.parse(input)) {
    const found = problems(json);
    if (found.length) out[name] = found;
  }
  process.stdout.write(JSON.stringify(out));
});
