/** `hodei controller --github-api-url` (controller/config.ts). */
import { describe, expect, it } from "vitest";
import { ConfigError, compileControllerOptions } from "../../../controller/config.js";

const base = { dataDir: "/tmp/hodei-config-test" };

describe("--github-api-url", () => {
  it("defaults to api.github.com and takes an Enterprise URL without its trailing slash", () => {
    expect(compileControllerOptions(base).githubApiUrl).toBe("https://api.github.com");
    expect(compileControllerOptions({ ...base, githubApiUrl: "https://ghe.example.com/api/v3/" }).githubApiUrl).toBe("https://ghe.example.com/api/v3");
  });

  it("refuses what is not an http(s) URL, or carries credentials", () => {
    for (const bad of ["api.github.com", "ftp://ghe.example.com/api/v3", "https://user:pw@ghe.example.com/api/v3", ""]) {
      expect(() => compileControllerOptions({ ...base, githubApiUrl: bad }), bad).toThrow(ConfigError);
    }
  });
});
