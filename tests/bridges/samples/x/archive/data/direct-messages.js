window.YTD.direct_messages.part0 = [
  {
    "dmConversation" : {
      "conversationId" : "1000-2001",
      "messages" : [
        {
          "messageCreate" : {
            "recipientId" : "2001",
            "reactions" : [ ],
            "urls" : [ ],
            "text" : "Hey, are you at the meetup tonight?",
            "mediaUrls" : [ ],
            "senderId" : "1000",
            "id" : "1500000000000000001",
            "createdAt" : "2023-04-01T18:30:00.000Z",
            "editHistory" : [ ]
          }
        },
        {
          "messageCreate" : {
            "recipientId" : "1000",
            "reactions" : [ ],
            "urls" : [ {"url": "https://t.co/x", "expanded": "https://example.org/map", "display": "example.org/map"} ],
            "text" : "Yes! Near the stage https://t.co/x",
            "mediaUrls" : [ ],
            "senderId" : "2001",
            "id" : "1500000000000000002",
            "createdAt" : "2023-04-01T18:35:10.000Z",
            "editHistory" : [ ]
          }
        }
      ]
    }
  },
  {
    "dmConversation" : {
      "conversationId" : "1000-3001",
      "messages" : [
        {
          "messageCreate" : {
            "recipientId" : "1000",
            "text" : "Thanks for the follow",
            "senderId" : "3001",
            "id" : "1500000000000000003",
            "createdAt" : "2024-01-02T08:00:00.000Z"
          }
        },
        {
          "messageCreate" : {
            "recipientId" : "1000",
            "text" : "no date",
            "senderId" : "3001",
            "id" : "1500000000000000004"
          }
        }
      ]
    }
  }
]
