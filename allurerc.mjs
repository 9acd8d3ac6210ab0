// Allure 3 configuration, read by `npx allure generate reports/allure-results` run by hand from
// the repository root. `gauntlet run` calls `allure awesome --single-file` and passes the same
// output and history paths as flags, so a changed reports directory works too. It still takes
// the report name from this file.
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
