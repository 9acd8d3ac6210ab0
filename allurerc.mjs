// Allure 3 configuration, read by `npx allure generate reports/allure-results` run by hand from
// the repository root. `gauntlet run` does not read it: it runs `allure awesome --single-file`
// in an empty directory with the output, history path and report name passed as flags.
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
