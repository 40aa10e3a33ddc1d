// Stand-in for a type checker: every source file must parse.
import { readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";

for (const file of readdirSync("src").filter((f) => f.endsWith(".js"))) {
  execFileSync(process.execPath, ["--check", `src/${file}`], { stdio: "inherit" });
}
