// Allure 3 configuration, read by `npx allure generate reports/allure-results` run by hand from
// the repository root. `gauntlet run` calls `allure awesome --single-file` with the same output
// and history paths given as flags, so it honours a changed reports directory; this file still
// sets the report name for it.
import { defineConfig } from "allure";

export default defineConfig({
  name: "ci-gauntlet",
  output: "./reports/allure-report",
  historyPath: "./reports/allure-history.jsonl",
  plugins: {
    awesome: {
      options: {
        singleFile: true,
      },
    },
  },
});
