Feature: Accounts
  People register with a username and password, log in to reach their notes, and log out.

  Scenario: A new user registers and logs in
    When a visitor registers as "alice"
    Then the account is created
    When "alice" logs in with the right password
    Then "alice" is logged in
    And the session cookie cannot be read by scripts or sent from other sites

  Scenario: A wrong password is rejected
    Given "alice" has an account
    When "alice" logs in with a wrong password
    Then the request is rejected as unauthenticated

  Scenario: A username cannot be registered twice
    Given "alice" has an account
    When another visitor registers the same username as "alice"
    Then the request is rejected as a conflict

  Scenario: Logging out ends the session
    Given "alice" is logged in with a new account
    And someone has copied the session cookie of "alice"
    When "alice" logs out
    Then "alice" can no longer list notes
    And the copied session cookie no longer works

  Scenario: Logging in through the web form
    Given "alice" has an account
    When "alice" logs in through the web form
    Then "alice" lands on the page of her notes

  Scenario: The web form rejects a submission without its anti-forgery token
    Given "alice" has an account
    When a page on another site submits the login form for "alice" without the token
    Then the request is rejected as invalid
