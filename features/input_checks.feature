Feature: Input checks
  The service accepts only well-formed input of a bounded size.

  Background:
    Given "alice" is logged in

  Scenario Outline: Invalid input is rejected
    When "alice" sends <request>
    Then the request is rejected as invalid
    And the error message is generic

    Examples:
      | request                                   |
      | a registration with a too short password  |
      | a registration with spaces in the name    |
      | a registration with an extra field        |
      | a note without a title                    |
      | a note whose title is a number            |
      | a note with an extra field                |
      | a note that is not JSON                   |
      | a search with a page size of 1000         |
      | a search with an unknown parameter        |

  Scenario: An oversized note is rejected
    When "alice" writes a note larger than the allowed request size
    Then the request is rejected as too large
