// A tiny linter: no tabs, no trailing spaces, no console.log in src/.
import { readdirSync, readFileSync } from "node:fs";

let problems = 0;
for (const file of readdirSync("src").filter((f) => f.endsWith(".js"))) {
  readFileSync(`src/${file}`, "utf8").split("\n").forEach((line, i) => {
    if (/\t| +$/.test(line) || line.includes("console.log")) {
      console.error(`src/${file}:${i + 1}: ${JSON.stringify(line)}`);
      problems += 1;
    }
  });
}
process.exit(problems ? 1 : 0);
