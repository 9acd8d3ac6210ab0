Feature: Security hygiene
  Every response protects the browser, and no error reveals how the service is built.

  Scenario Outline: Security headers are present on every kind of response
    Given "alice" is logged in
    When "alice" makes <request>
    Then the response has status <status>
    And the response carries the security headers

    Examples:
      | request                     | status |
      | a health check              | 200    |
      | a request for the login page | 200    |
      | an invalid note             | 400    |
      | a request for another user's note | 404 |
      | a request to an unknown page | 404    |
      | a request with a wrong method | 405   |
      | an oversized request        | 413    |

  Scenario: Errors show no internals
    Given "alice" is logged in
    When "alice" triggers several kinds of errors
    Then no error response reveals a traceback, SQL, a file path or a version
