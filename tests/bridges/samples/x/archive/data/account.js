window.YTD.account.part0 = [
  {
    "account" : {
      "email" : "sam@example.com",
      "createdVia" : "web",
      "username" : "samowner",
      "accountId" : "1000",
      "createdAt" : "2009-03-14T10:00:00.000Z",
      "accountDisplayName" : "Sam Owner"
    }
  }
]
