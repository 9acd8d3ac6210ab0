Feature: Notes
  Each user keeps private notes: only their owner can read, change or delete them. A note's text
  is stored and returned as written, even when it looks like SQL.

  Background:
    Given "alice" is logged in with a new account

  Scenario: A user writes, reads, changes and deletes a note
    When "alice" writes a note titled "Groceries" saying "milk and eggs"
    Then "alice" can read the note titled "Groceries"
    When "alice" changes the note to the title "Errands" saying "post office"
    Then "alice" can read the note titled "Errands"
    When "alice" deletes the note
    Then the note is gone for "alice"

  Scenario: A user searches their notes
    Given "alice" has written a note titled "Groceries" saying "milk and eggs"
    And "alice" has written a note titled "Work" saying "quarterly report"
    When "alice" searches her notes for "milk"
    Then the search finds only the note titled "Groceries"

  Scenario: Another user cannot read, change or delete my note
    Given "alice" has written a note titled "Diary" saying "private thoughts"
    And "bob" is logged in with a new account
    When "bob" tries to read the note of "alice"
    Then the note is reported as not found
    When "bob" tries to change the note of "alice"
    Then the note is reported as not found
    When "bob" tries to delete the note of "alice"
    Then the note is reported as not found
    And "alice" can read the note titled "Diary"

  Scenario: Another user's notes are not listed
    Given "alice" has written a note titled "Diary" saying "private thoughts"
    And "bob" is logged in with a new account
    When "bob" lists his notes
    Then the list is empty

  Scenario Outline: SQL-shaped text is stored and returned literally
    When "alice" writes a note titled "<text>" saying "<text>"
    Then "alice" can read the note titled "<text>"
    And searching for "<text>" finds exactly that note

    Examples:
      | text                                 |
      | x'); DROP TABLE notes;--             |
      | ' OR '1'='1                          |
      | 1 UNION SELECT username FROM users-- |
      | %' OR 1=1 --                         |
